// The one storage account: Durable Functions' task hub (it creates its own blobs, queues and
// tables, named after host.json's hubName), run results, the Flex Consumption deployment
// package, and Event Grid's dead letters. Identity only: shared keys are off, so no key or
// connection string exists to leak.
param name string
param location string
param tags object
param resultsContainer string
param deploymentContainer string
param deadLetterContainer string

@description('Geo-redundant, so calibration results outlive a region outage; zone-redundant too (GZRS) where the region has zones, else Standard_GRS.')
@allowed([
  'Standard_GZRS'
  'Standard_GRS'
  'Standard_RAGZRS'
  'Standard_RAGRS'
])
param skuName string = 'Standard_GZRS'

resource account 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  //checkov:skip=CKV_AZURE_35:No network to restrict to: the Flex Consumption app runs without a virtual network here and runners write from AKS clusters created on demand; shared keys are off, so every request needs an Entra ID token and a data role.
  //checkov:skip=CKV_AZURE_59:Same reason as CKV_AZURE_35: public endpoint, identity-only access (allowSharedKeyAccess false, no anonymous blob access).
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
  }
  kind: 'StorageV2'
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // Public endpoint, every caller authenticated by Entra ID: the Flex Consumption app has no
    // virtual network here, and runners on AKS write results from the cluster's own egress.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' = {
  parent: account
  name: 'default'
  properties: {
    // A deleted results blob or container can be brought back for a week.
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource results 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobs
  name: resultsContainer
  properties: {
    publicAccess: 'None'
  }
}

resource deployment 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobs
  name: deploymentContainer
  properties: {
    publicAccess: 'None'
  }
}

resource deadLetters 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobs
  name: deadLetterContainer
  properties: {
    publicAccess: 'None'
  }
}

output id string = account.id
@description('The results container alone: the only storage cluster workloads get data rights on.')
output resultsContainerId string = results.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
