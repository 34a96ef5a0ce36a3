"""Real progress CloudEvents of a run, and the same in the Event Grid schema, for the intake's tests."""

from modelops.events import ProgressEvents

TOPIC = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.EventGrid/topics/progress"


def run_events(run_id="run-a", losses=(3.0, 1.5, 2.0), end="completed", budget=10):
    """A run's real CloudEvents: started, one trial per loss (None: a failed trial), the end."""
    builder = ProgressEvents(run_id, budget)
    events = [builder.run_started(algorithm="optuna")]
    for number, loss in enumerate(losses):
        status = "failed" if loss is None else "ok"
        events.append(builder.trial_completed(number, f"p{number}", {"x": number}, loss, status))
    if end == "completed":
        events.append(builder.run_completed({"trials": len(losses)}))
    elif end == "failed":
        events.append(builder.run_failed("the simulation crashed"))
    return events


def as_eventgrid(event):
    """The same event in the Event Grid schema, its run named by the subject."""
    subject = event["source"] + (f"/{event['subject']}" if "subject" in event else "")
    return {"id": event["id"], "eventType": event["type"], "subject": subject,
            "eventTime": event["time"], "data": event["data"], "dataVersion": "1.0",
            "topic": TOPIC}


def validation_event(code="512d38b6-c7b8-40c8-89fe-f46f9e9622b6"):
    return {"id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66", "topic": TOPIC, "subject": "",
            "data": {"validationCode": code,
                     "validationUrl": "https://example.invalid/validate?code=x"},
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": "2026-03-01T12:00:00.0000000Z", "metadataVersion": "1",
            "dataVersion": "2"}
