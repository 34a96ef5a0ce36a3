// The app's rights at subscription scope, which `mops env up|down --target azure` needs: each
// environment is a new resource group (modelops-<env>-rg-<username>) holding an ACR and an AKS
// cluster, and a resource group that does not exist yet can only be reached from the
// subscription. Use a subscription dedicated to ModelOps: these rights span all of it.
targetScope = 'subscription'

param appPrincipalId string

var acrPull = '7f951dda-4ed3-4680-a7ca-43fe172d538d'
var grantOnlyCondition = replace(loadTextContent('grant-only.condition'), '\n', ' ')

// A custom role instead of Contributor: exactly the control-plane operations
// control_plane/azure makes (resource groups, registries, AKS clusters, each environment's workload
// identity and the federated credentials that let its pods act as it, the registries' operation
// status (ACR's creation is awaited; AKS and group operations are started and their resource
// read again by the orchestrator, never polled by status URL), the region's Kubernetes versions, the cluster user kubeconfig, which
// for these Entra ID clusters holds the server and its CA and no credential) and nothing else:
// no networks, VMs, data-plane or secrets such as registry admin credentials. AKS creates the
// cluster's node resource group itself, with its own identity, so that needs no right here.
resource environmentBuilder 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'modelops-environment-builder')
  properties: {
    roleName: 'ModelOps environment builder (${subscription().subscriptionId})'
    description: 'Create, read and delete ModelOps environments: resource groups, container registries, AKS clusters and workload identities.'
    type: 'CustomRole'
    assignableScopes: [
      subscription().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.Resources/subscriptions/resourceGroups/read'
          'Microsoft.Resources/subscriptions/resourceGroups/write'
          'Microsoft.Resources/subscriptions/resourceGroups/delete'
          'Microsoft.ContainerRegistry/registries/read'
          'Microsoft.ContainerRegistry/registries/write'
          'Microsoft.ContainerRegistry/registries/delete'
          'Microsoft.ContainerRegistry/registries/operationStatuses/read'
          'Microsoft.ContainerRegistry/locations/operationResults/read'
          'Microsoft.ContainerService/managedClusters/read'
          'Microsoft.ContainerService/managedClusters/write'
          'Microsoft.ContainerService/managedClusters/delete'
          'Microsoft.ContainerService/managedClusters/listClusterUserCredential/action'
          'Microsoft.ContainerService/locations/kubernetesVersions/read'
          'Microsoft.ManagedIdentity/userAssignedIdentities/read'
          'Microsoft.ManagedIdentity/userAssignedIdentities/write'
          'Microsoft.ManagedIdentity/userAssignedIdentities/delete'
          'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write'
          'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/delete'
        ]
        notActions: []
      }
    ]
  }
}

resource appBuildsEnvironments 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, appPrincipalId, environmentBuilder.id)
  properties: {
    roleDefinitionId: environmentBuilder.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// What the app does inside every environment's cluster, through the Kubernetes API with an Entra
// token (the clusters have Azure RBAC for Kubernetes and no local accounts): the Dask workspace,
// each run's namespace, PostgreSQL and runner Job, the service accounts their pods act as under
// workload identity; reading pods only to say why a workload is
// not ready. Exactly the verbs control_plane/k8s uses (server-side apply is a write; workspaces
// go with their namespace), no RBAC objects, no exec, no nodes. Subscription scope, like the rights to build the clusters, because each cluster is
// created later, by the app itself, in a resource group of its own.
resource workspaceOperator 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'modelops-workspace-operator')
  properties: {
    roleName: 'ModelOps workspace operator (${subscription().subscriptionId})'
    description: 'Run ModelOps workspaces and runs on AKS clusters: namespaces, workloads, their Services, Secrets and ConfigMaps.'
    type: 'CustomRole'
    assignableScopes: [
      subscription().id
    ]
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: [
          'Microsoft.ContainerService/managedClusters/namespaces/read'
          'Microsoft.ContainerService/managedClusters/namespaces/write'
          'Microsoft.ContainerService/managedClusters/namespaces/delete'
          'Microsoft.ContainerService/managedClusters/apps/deployments/read'
          'Microsoft.ContainerService/managedClusters/apps/deployments/write'
          'Microsoft.ContainerService/managedClusters/apps/statefulsets/read'
          'Microsoft.ContainerService/managedClusters/apps/statefulsets/write'
          'Microsoft.ContainerService/managedClusters/apps/statefulsets/delete'
          'Microsoft.ContainerService/managedClusters/batch/jobs/read'
          'Microsoft.ContainerService/managedClusters/batch/jobs/write'
          'Microsoft.ContainerService/managedClusters/batch/jobs/delete'
          'Microsoft.ContainerService/managedClusters/services/write'
          'Microsoft.ContainerService/managedClusters/services/delete'
          'Microsoft.ContainerService/managedClusters/secrets/read'
          'Microsoft.ContainerService/managedClusters/secrets/write'
          'Microsoft.ContainerService/managedClusters/configmaps/write'
          'Microsoft.ContainerService/managedClusters/configmaps/delete'
          'Microsoft.ContainerService/managedClusters/serviceaccounts/write'
          'Microsoft.ContainerService/managedClusters/pods/read'
        ]
        notDataActions: []
      }
    ]
  }
}

resource appOperatesWorkspaces 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, appPrincipalId, workspaceOperator.id)
  properties: {
    roleDefinitionId: workspaceOperator.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Role assignments and nothing else: every assignment of it carries an ABAC condition naming
// the one role it may hand out, to service principals only. Not the built-in RBAC
// Administrator role, which also carries */read (every resource's metadata in the scope) and
// Microsoft.Support/*.
resource roleGranter 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'modelops-role-granter')
  properties: {
    roleName: 'ModelOps role granter (${subscription().subscriptionId})'
    description: 'Read, create and delete role assignments; each assignment of this role names, in its condition, the one role it may grant.'
    type: 'CustomRole'
    assignableScopes: [
      subscription().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.Authorization/roleAssignments/read'
          'Microsoft.Authorization/roleAssignments/write'
          'Microsoft.Authorization/roleAssignments/delete'
        ]
        notActions: []
      }
    ]
  }
}

// `mops env up` grants each cluster's kubelet identity AcrPull on the environment's registry (and
// nothing else: data rights go to the environment's workload identity, resource-roles.bicep),
// which lives in a resource group created at that moment: so the scope is the subscription,
// and the ABAC condition narrows the role granter to AcrPull, for service principals only.
resource appGrantsImagePull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, appPrincipalId, roleGranter.id)
  properties: {
    roleDefinitionId: roleGranter.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    conditionVersion: '2.0'
    condition: replace(grantOnlyCondition, '<role>', acrPull)
  }
}

@description('The role granter, for the grants on the control plane\'s own resources (resource-roles.bicep).')
output roleGranterId string = roleGranter.id
