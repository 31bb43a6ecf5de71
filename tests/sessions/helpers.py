from __future__ import annotations

import time


def wait_for(http, session_id: str, headers: dict, states=("running",), timeout: float = 30.0) -> dict:
    """Poll the API until the session is in one of ``states``; fail with its events otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        body = http.get(f"/api/v1/sessions/{session_id}", headers=headers).json()
        if body["state"] in states:
            return body
        if time.monotonic() > deadline or body["state"] in ("failed", "stopped"):
            events = http.get(f"/api/v1/sessions/{session_id}/events", headers=headers).json()
            raise AssertionError(f"session {session_id} is {body['state']} ({body['reason']}), not {states}; "
                                 f"events: {[e['message'] for e in events]}")
        time.sleep(0.05)
