"""Alert routing: which alerts go to which channel (e-mail, Slack, Teams, Alertmanager, signed
webhooks), when, and the log of every delivery.

Pure core: `routing` (matching, quiet hours, repeats, digests, backoff), `formats` (what each
channel is sent), `secrecy` (allowed URL schemes, masking), `config` (what an admin or a YAML
file may say). Shell: `store` (PostgreSQL), `channels` (SMTP and HTTP), `router` (the
`ledger serve alerts` process).
"""
