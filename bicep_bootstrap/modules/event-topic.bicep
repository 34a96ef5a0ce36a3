// The progress topic runners publish to: CloudEvents 1.0 in, Entra ID only (no access keys, so
// MODELOPS_EVENTGRID_KEY stays unset and runners use their managed identity).
param name string
param location string
param tags object

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  //checkov:skip=CKV_AZURE_193:Runners publish from AKS clusters the app creates on demand, with no private endpoint to this topic; access keys are disabled, so publishing needs Entra ID and EventGrid Data Sender.
  name: name
  location: location
  tags: tags
  // Its own identity writes dead letters, so the storage account needs no key for Event Grid.
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    // Runners publish from AKS clusters the app creates on demand, with no private link to here.
    publicNetworkAccess: 'Enabled'
  }
}

output id string = topic.id
output name string = topic.name
output endpoint string = topic.properties.endpoint
output principalId string = topic.identity.principalId
