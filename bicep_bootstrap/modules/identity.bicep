// The Function App's one identity. User-assigned rather than system-assigned so its roles can be
// granted before the app exists (the host needs them from its first start) and survive a rebuild.
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
