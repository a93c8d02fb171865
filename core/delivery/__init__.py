"""The outreach worker: sends queued messages, retries with backoff, never sends one twice.

One pass:

1. Recover stale claims (a worker died between claiming and marking, see below).
2. Claim ONE due message in a short transaction, and in that same transaction check it
   again (core.outreach.recheck_before_send, with the customer's row locked): consent
   still given, one valid address, frequency cap. A message that fails the check becomes
   `suppressed` with the reason and is never handed out; otherwise `queued` and due ->
   `sending`, attempts + 1, and `next_attempt_at` becomes the claim's expiry (the lease).
   PostgreSQL selects with `FOR UPDATE SKIP LOCKED`, so several workers share the queue
   without waiting for or taking each other's rows. The row is claimed with a conditional
   `UPDATE ... WHERE status = 'queued'`, so even two workers on SQLite cannot both win it
   (run one there all the same: SQLite has a single writer).
3. Send it with no transaction open (network time holds no locks). Only this one message
   is `sending`; the rest of the queue is still `queued`, so a worker killed here leaves
   one message to settle, and the others go to the next worker untouched.
4. Mark it: `sent`, with sent_at the moment the server accepted it; or, on an error, back
   to `queued` with last_error and an exponential backoff; `failed` after MAX_ATTEMPTS, on a
   permanent refusal, or when the message cannot be built at all. Whatever goes wrong with
   one message is recorded on that message, and the worker goes on with the next.

An unsubscribe committed before step 2 stops the message; one committed after it, in the
milliseconds before the server's answer, cannot (the message is already on its way).

Every message has a stable Message-ID, written at trigger time and reused by every
attempt. A worker that dies after sending and before marking leaves the row `sending`
with an expired lease. What the next worker does with it depends on the channel:

- outbox: the .eml file is named after the Message-ID and appears atomically (hard link
  of a finished temporary file), so the file existing means delivered -> `sent`; no file
  means nothing went out -> `queued` again.
- SMTP and webhook: the other side cannot be asked whether it got the message. Hearth
  chooses at most once: the row becomes `failed` with "delivery uncertain" and the
  Message-ID in last_error, and is not resent by itself. A person can look the
  Message-ID up in the mail server's log (or the webhook receiver, which also gets it as
  the `Idempotency-Key` header) and requeue it with `requeue_outreach`. The window is the
  few milliseconds between the server's final OK and the mark, so this is rare; the
  alternative, resending, would risk a duplicate email every time it happens.

The package: `channels` (the outbox, SMTP, webhook and the message they send) and `worker`
(the queue, the passes, stale claims, requeue).
"""

from core.delivery.channels import (  # noqa: F401
    DeliveryError,
    Message,
    outbox_path,
    send_outbox,
    send_smtp,
    send_webhook,
)
from core.delivery.worker import (  # noqa: F401
    BACKOFF_BASE,
    BACKOFF_MAX,
    CLAIM_LEASE,
    MAX_ATTEMPTS,
    WORKER,
    Claim,
    DeliveryReport,
    backoff,
    deliver,
    deliver_pass,
    log,
    requeue_outreach,
)
