// ModelOps control plane from an empty subscription: one resource group holding the Function
// App (Flex Consumption), its storage, identity, monitoring, Key Vault and the progress topic,
// plus the subscription-wide rights the app needs to create environments (AKS, ACR) itself.
//
// Two passes (docs/deploy.md): the first creates everything; the code is then published;
// the second, with deployEventSubscription=true, subscribes the app's Event Grid trigger to
// the topic, which Event Grid can only do once that function exists.
targetScope = 'subscription'

@description('Region of the control plane resource group and everything in it (one that offers Flex Consumption); by default the deployment\'s own.')
param location string = deployment().location

@description('Lowercase prefix of every name here. Globally unique names (storage, Key Vault, Function App, topic) add a hash of the subscription.')
@minLength(3)
@maxLength(10)
param namePrefix string = 'modelops'

@description('Second pass, after the code is published: subscribe the Event Grid trigger to the progress topic.')
param deployEventSubscription bool = false

@description('MODELOPS_RUNNER_IMAGE: the runner and Dask image, <registry>.azurecr.io/modelops-runner:<version>. Empty until it is built.')
param runnerImage string = ''

@description('MODELOPS_IMAGE_PULL_SECRET: for existing clusters with a private registry, the name of a registry Secret in the workspace namespace (modelops-<env>); it is copied into each run\'s namespace. Empty for AKS, which pulls with the kubelet identity.')
param imagePullSecret string = ''

@description('MODELOPS_EXISTING_CLIENT_ID: for existing clusters with workload identity, the client id of a user-assigned identity federated to the service accounts modelops-workspace (namespace modelops-<env>) and runner (each run-<run id>). Empty: pods run without an Azure identity.')
param existingClientId string = ''

@description('MODELOPS_LOCATION: region of the environments (resource groups, registries, clusters) the app creates.')
param environmentLocation string = location

@description('MODELOPS_USERNAME: environments are named modelops-<env>-rg-<username> and registries modelops<env><username>.')
param username string = 'modelops'

@description('MODELOPS_KUBERNETES_VERSION: pin new AKS clusters to this version (1.34 or 1.34.2); empty for the newest generally available one the region supports when the environment is created.')
param kubernetesVersion string = ''

@description('MODELOPS_HEARTBEAT_SECONDS: with no progress event for this long, the runner is checked.')
@minValue(10)
param heartbeatSeconds int = 120

@description('MODELOPS_RUN_DEADLINE_HOURS: a run still going after this long is stopped and failed.')
@minValue(1)
param runDeadlineHours int = 48

@description('Name of the Key Vault secret that holds the existing target\'s kubeconfig (set it yourself; the template never holds a secret).')
param kubeconfigSecretName string = 'existing-kubeconfig'

@description('Object id of a user or group allowed to write Key Vault secrets (e.g. the kubeconfig); empty for nobody.')
param secretsAdminPrincipalId string = ''

@description('Upper bound on Function App instances (Flex Consumption scales out to it under load).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

// Not `managed-by: modelops`: that tag marks the environment resource groups ModelOps itself
// may delete (control_plane/azure/requests.py), and this one must never be among them.
var tags = {
  'modelops-role': 'control-plane'
}

// The Event Grid trigger in api/events.py: a v2-model function is named after its Python function.
var progressFunctionName = 'on_progress_event'

var hash = uniqueString(subscription().id, namePrefix)
var names = {
  resourceGroup: '${namePrefix}-control-plane'
  identity: '${namePrefix}-app-identity'
  storage: take('${replace(namePrefix, '-', '')}${hash}', 24)
  keyVault: take('${namePrefix}-kv-${hash}', 24)
  workspace: '${namePrefix}-logs'
  insights: '${namePrefix}-insights'
  topic: '${namePrefix}-progress-${hash}'
  plan: '${namePrefix}-plan'
  functionApp: '${namePrefix}-api-${hash}'
}
var containers = {
  results: 'results'
  deployment: 'app-package'
  deadLetter: 'event-dead-letters'
}

resource controlPlane 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: controlPlane
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: controlPlane
  params: {
    name: names.storage
    location: location
    tags: tags
    resultsContainer: containers.results
    deploymentContainer: containers.deployment
    deadLetterContainer: containers.deadLetter
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: controlPlane
  params: {
    workspaceName: names.workspace
    insightsName: names.insights
    location: location
    tags: tags
  }
}

module keyVault 'modules/key-vault.bicep' = {
  name: 'key-vault'
  scope: controlPlane
  params: {
    name: names.keyVault
    location: location
    tags: tags
  }
}

module topic 'modules/event-topic.bicep' = {
  name: 'event-topic'
  scope: controlPlane
  params: {
    name: names.topic
    location: location
    tags: tags
  }
}

module resourceRoles 'modules/resource-roles.bicep' = {
  name: 'resource-roles'
  scope: controlPlane
  params: {
    appPrincipalId: identity.outputs.principalId
    topicPrincipalId: topic.outputs.principalId
    storageAccountName: storage.outputs.name
    resultsContainer: containers.results
    deadLetterContainer: containers.deadLetter
    topicName: topic.outputs.name
    keyVaultName: keyVault.outputs.name
    secretsAdminPrincipalId: secretsAdminPrincipalId
    roleGranterId: subscriptionRoles.outputs.roleGranterId
  }
}

module subscriptionRoles 'modules/subscription-roles.bicep' = {
  name: 'subscription-roles'
  params: {
    appPrincipalId: identity.outputs.principalId
  }
}

// Every app setting, in one place: each name in modelops.app_settings.SETTINGS, plus the
// platform's own. FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION are absent on purpose:
// Flex Consumption rejects them (functionAppConfig.runtime replaces them), and the connection-
// string form of AzureWebJobsStorage is for local runs only. tests/test_bicep.py checks both ways.
var appSettings = {
  // Durable Functions' task hub (blobs, queues, tables) through the app's identity, no key.
  AzureWebJobsStorage__accountName: storage.outputs.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.outputs.clientId
  // DefaultAzureCredential in the code picks the user-assigned identity by this.
  AZURE_CLIENT_ID: identity.outputs.clientId
  // An ingestion endpoint and instrumentation key, which Azure documents as not a secret.
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
  MODELOPS_RESULTS_ROOT: '${storage.outputs.blobEndpoint}${containers.results}'
  // Model bundles live beside the results (under _bundles/, never a run id), where runners already may read.
  MODELOPS_BUNDLE_STORE: '${storage.outputs.blobEndpoint}${containers.results}/_bundles'
  MODELOPS_RUN_DEADLINE_HOURS: string(runDeadlineHours)
  MODELOPS_HEARTBEAT_SECONDS: string(heartbeatSeconds)
  MODELOPS_EVENTS_URL: topic.outputs.endpoint
  // Only the local target uses it (processes on the app's own host); empty means a temp folder.
  MODELOPS_LOCAL_STATE_DIR: ''
  MODELOPS_SUBSCRIPTION_ID: subscription().subscriptionId
  MODELOPS_LOCATION: environmentLocation
  MODELOPS_USERNAME: username
  MODELOPS_KUBERNETES_VERSION: kubernetesVersion
  MODELOPS_RUNNER_IMAGE: runnerImage
  MODELOPS_RESULTS_CONTAINER_ID: storage.outputs.resultsContainerId
  MODELOPS_EVENTGRID_TOPIC_ID: topic.outputs.id
  // A reference the platform resolves with the app's identity: the kubeconfig itself never
  // appears in a setting, a template or a deployment's history.
  MODELOPS_EXISTING_KUBECONFIG: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.uri}secrets/${kubeconfigSecretName}/)'
  MODELOPS_IMAGE_PULL_SECRET: imagePullSecret
  MODELOPS_EXISTING_CLIENT_ID: existingClientId
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: controlPlane
  // The host reads its storage and Key Vault references with the identity from its first start.
  dependsOn: [
    resourceRoles
  ]
  params: {
    appName: names.functionApp
    planName: names.plan
    location: location
    tags: tags
    identityId: identity.outputs.id
    blobEndpoint: storage.outputs.blobEndpoint
    deploymentContainer: containers.deployment
    maximumInstanceCount: maximumInstanceCount
    appSettings: appSettings
  }
}

module eventSubscription 'modules/event-subscription.bicep' = if (deployEventSubscription) {
  name: 'event-subscription'
  scope: controlPlane
  params: {
    topicName: topic.outputs.name
    functionResourceId: '${functionApp.outputs.id}/functions/${progressFunctionName}'
    storageAccountId: storage.outputs.id
    deadLetterContainer: containers.deadLetter
  }
}

output resourceGroupName string = controlPlane.name
output functionAppName string = functionApp.outputs.name
@description('What `mops config init --api-url` takes; the routes are under /api.')
output apiUrl string = functionApp.outputs.url
output topicEndpoint string = topic.outputs.endpoint
output keyVaultName string = keyVault.outputs.name
