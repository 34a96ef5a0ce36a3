// Delivers the topic's events to the Function App's Event Grid trigger. Deployed in a second
// pass: Event Grid checks that the function exists, so the code must be published first.
param topicName string

@description('<function app id>/functions/<function name>.')
param functionResourceId string

param storageAccountId string
param deadLetterContainer string

resource topic 'Microsoft.EventGrid/topics@2025-02-15' existing = {
  name: topicName
}

resource toFunction 'Microsoft.EventGrid/topics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: 'progress-to-function-app'
  properties: {
    // The topic takes CloudEvents, so it must deliver them; the trigger accepts either schema.
    eventDeliverySchema: 'CloudEventSchemaV1_0'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: functionResourceId
        // The Functions Event Grid trigger takes one event per call, and each call becomes one
        // orchestration execution: the runner's publisher (control_plane_options) sends a run's
        // newest trial snapshot at most every 2 s, so a run costs at most one execution per 2 s
        // (plus its lifecycle events and heartbeats); the orchestration merges idempotently.
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    // Keep trying for a day (a cold start or a deployment is minutes); then dead-letter.
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storageAccountId
          blobContainerName: deadLetterContainer
        }
      }
    }
  }
}
