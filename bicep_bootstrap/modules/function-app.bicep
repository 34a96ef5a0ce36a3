// The control plane: a Python 3.11 Function App on Flex Consumption (Linux), running as the
// user-assigned identity for everything: its host storage, its deployment package, Key Vault
// references and the Azure calls the code makes.
param appName string
param planName string
param location string
param tags object

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('The storage account\'s blob endpoint, ending in /.')
param blobEndpoint string

@description('Blob container Flex Consumption deploys the code package to.')
param deploymentContainer string

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Every app setting, name to value (built in main.bicep).')
param appSettings object

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  //checkov:skip=CKV_AZURE_225:Zone redundancy on Flex Consumption is offered in a few regions only and this template deploys to any; the app keeps no state of its own (the task hub is in geo-redundant storage), so an outage costs a restart, not data.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    // Linux.
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-11-01' = {
  name: appName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  //checkov:skip=CKV_AZURE_222:The API is public by design: `mops` calls it from users' machines with a function key, and Event Grid delivers to it.
  //checkov:skip=CKV_AZURE_17:Callers authenticate with function keys (Event Grid with the Event Grid system key); requiring client certificates would lock both out.
  //checkov:skip=CKV_AZURE_212:An App Service plan setting (a minimum worker count); Flex Consumption scales instances per event and has no such count.
  //checkov:skip=CKV_AZURE_213:App Service health check does not apply to Flex Consumption, whose platform replaces unhealthy instances itself; the API has no health route.
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references resolve with the user-assigned identity (the default would be a
    // system-assigned one, which this app does not have).
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
      ftpsState: 'Disabled'
      appSettings: [for setting in items(appSettings): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      // Replaces the FUNCTIONS_WORKER_RUNTIME setting on Flex Consumption.
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Deployments authenticate with Entra ID (`az functionapp deployment source config-zip`,
// `func azure functionapp publish`), so the publishing profile's user name and password are
// switched off for both the SCM and the FTP endpoint.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

output id string = site.id
output name string = site.name
output url string = 'https://${site.properties.defaultHostName}'
