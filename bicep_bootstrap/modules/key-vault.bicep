// Secrets the app hands on by reference only (the existing target's kubeconfig). Access is by
// Azure RBAC (no access policies), and purge protection keeps a deleted secret recoverable.
param name string
param location string
param tags object

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  //checkov:skip=CKV_AZURE_109:Key Vault references are resolved from the app's public outbound addresses (no virtual network on this Flex Consumption app, and App Service is not a trusted service that bypasses the firewall); reads need Entra ID and Key Vault Secrets User.
  //checkov:skip=CKV_AZURE_189:Same reason as CKV_AZURE_109.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    // Key Vault references are resolved from the app's public outbound addresses: Flex
    // Consumption has no virtual network here, and App Service is no trusted service to bypass
    // a firewall. Every read needs Entra ID and the Key Vault Secrets User role.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
