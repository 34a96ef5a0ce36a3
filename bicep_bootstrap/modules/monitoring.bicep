// Application Insights on a Log Analytics workspace (workspace-based: classic resources are retired).
param workspaceName string
param insightsName string
param location string
param tags object

@description('Days logs are kept; 30 is what the PerGB2018 price includes.')
param retentionInDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-02-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: insightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
  }
}

output insightsName string = insights.name
output connectionString string = insights.properties.ConnectionString
