"""The peer of signoff's Slack click path, written the way a team would write it with Bolt for Python.

One action, the Approve button (`action_id` `signoff_approve`, `value` the prompt's token):

1. Bolt verifies the request (`v0` HMAC-SHA256 of the raw body, 5-minute window) before any listener runs.
2. The ack function records the decision in SQLite in its own transaction (WAL, `synchronous=FULL`, as signoff's
   store) and acknowledges: the HTTP 200 goes out only after the decision is durable, as in signoff.
3. A lazy listener then calls `chat.update` on the clicked message, after the response, as signoff's outbox does.

`process_before_response=True` with a lazy listener is Bolt's documented way to answer right after the ack
function returns; Bolt's default mode instead polls for `ack()` every 10 ms, which would only slow it down.

Served by gunicorn through Bolt's WSGI adapter (`bolt_app:wsgi`), configured by the environment:
SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN, SLACK_API_URL (the Web API base, ending in `/`), BOLT_DB (the SQLite file).
"""

import os
import sqlite3
import threading
import time

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

DB_PATH = os.environ["BOLT_DB"]
_local = threading.local()


def db() -> sqlite3.Connection:
    """One connection per thread, in autocommit mode so that transactions are explicit."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(DB_PATH, isolation_level=None, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS decisions ("
            " token TEXT PRIMARY KEY, approver TEXT NOT NULL, channel TEXT, ts TEXT, decided_at INTEGER NOT NULL)"
        )
        _local.conn = conn
    return conn


token = os.environ["SLACK_BOT_TOKEN"]
app = App(
    token=token,
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    client=WebClient(token=token, base_url=os.environ["SLACK_API_URL"]),
    process_before_response=True,
)


def commit_and_ack(ack, body):
    action = body["actions"][0]
    container = body.get("container") or {}
    conn = db()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "INSERT OR IGNORE INTO decisions (token, approver, channel, ts, decided_at) VALUES (?, ?, ?, ?, ?)",
            (
                action["value"],
                body["user"]["id"],
                container.get("channel_id"),
                container.get("message_ts"),
                int(time.time() * 1000),
            ),
        )
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    ack()


def update_message(body, client):
    container = body["container"]
    client.chat_update(
        channel=container["channel_id"],
        ts=container["message_ts"],
        text="Approved by you",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": ":white_check_mark: Approved by you"}}],
    )


app.action("signoff_approve")(ack=commit_and_ack, lazy=[update_message])

wsgi = SlackRequestHandler(app, path="/slack/interactions")
