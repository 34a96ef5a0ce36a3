// Every role granted on the control plane's own resources. Each is the narrowest built-in role
// that does the job, at the narrowest scope Azure accepts for it; the why is beside each one.
// (The subscription-wide rights to build environments are in subscription-roles.bicep.)
param appPrincipalId string
param topicPrincipalId string
param storageAccountName string
param resultsContainer string
param deadLetterContainer string
param topicName string
param keyVaultName string

@description('Object id of a user or group allowed to write Key Vault secrets; empty for nobody.')
param secretsAdminPrincipalId string = ''

@description('The ModelOps role granter (subscription-roles.bicep): role assignments only, narrowed by each assignment\'s condition.')
param roleGranterId string

// Built-in role definition ids: the same in every tenant.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe5-44ce-4948-aee5-eccb2c155cd7'
  eventGridDataSender: 'd5a91429-5739-47e2-a06b-3470a27159e7'
}

// An ABAC condition that lets a role-assignment writer create or delete assignments of one
// role only, and only to service principals (managed identities such as AKS kubelets).
var grantOnlyCondition = replace(loadTextContent('grant-only.condition'), '\n', ' ')

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: storageAccountName
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' existing = {
  parent: storage
  name: 'default'
}

resource results 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' existing = {
  parent: blobs
  name: resultsContainer
}

resource deadLetters 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' existing = {
  parent: blobs
  name: deadLetterContainer
}

resource topic 'Microsoft.EventGrid/topics@2025-02-15' existing = {
  name: topicName
}

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

// App, on the storage account: Durable Functions keeps its task hub's blobs (and blob leases,
// which need Owner rather than Contributor) here; the same role reads the Flex Consumption
// deployment package and lets the API read and purge run results. Account scope because the
// task hub's containers are created by the runtime under names it chooses.
resource appBlobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, appPrincipalId, roles.storageBlobDataOwner)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// App, on the storage account: Durable Functions' control and work-item queues.
resource appQueues 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, appPrincipalId, roles.storageQueueDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// App, on the storage account: Durable Functions' history and instances tables.
resource appTables 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, appPrincipalId, roles.storageTableDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// App, on the vault: resolve @Microsoft.KeyVault references in its settings (read secrets,
// never write or list keys).
resource appSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, appPrincipalId, roles.keyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// App, on the results container only: `mops env up` grants each environment's workload identity
// Storage Blob Data Contributor here (MODELOPS_RESULTS_CONTAINER_ID) so runners can write
// results. Never the account: it also holds the app's deployment package, task hub and dead
// letters, and whoever may write those may replace the app's code. The role granter could
// grant any role; the condition narrows it to that one role, for service principals only, on
// this container only.
resource appGrantsResultsWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: results
  name: guid(results.id, appPrincipalId, roleGranterId)
  properties: {
    roleDefinitionId: roleGranterId
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    conditionVersion: '2.0'
    condition: replace(grantOnlyCondition, '<role>', roles.storageBlobDataContributor)
  }
}

// App, on the topic: likewise for EventGrid Data Sender (MODELOPS_EVENTGRID_TOPIC_ID), so
// runners can publish progress with their identity; this topic has no access keys.
resource appGrantsEventSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: topic
  name: guid(topic.id, appPrincipalId, roleGranterId)
  properties: {
    roleDefinitionId: roleGranterId
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    conditionVersion: '2.0'
    condition: replace(grantOnlyCondition, '<role>', roles.eventGridDataSender)
  }
}

// Topic, on the dead-letter container only: Event Grid writes undeliverable events there with
// its own identity (shared keys are off).
resource topicDeadLetters 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: deadLetters
  name: guid(deadLetters.id, topicPrincipalId, roles.storageBlobDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: topicPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// An operator (optional), on the vault: write the secrets the app references, such as the
// existing target's kubeconfig. RBAC vaults give even subscription owners no data access.
resource adminSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(secretsAdminPrincipalId)) {
  scope: vault
  name: guid(vault.id, secretsAdminPrincipalId, roles.keyVaultSecretsOfficer)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: secretsAdminPrincipalId
  }
}
