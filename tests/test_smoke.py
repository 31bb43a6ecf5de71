"""The app starts on a migrated database and answers its health check and OpenAPI document."""


def test_health_reports_database(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_openapi_lists_every_api_route(client, app):
    paths = client.get("/api/openapi.json").json()["paths"]
    api_routes = {r.path for r in app.routes if getattr(r, "path", "").startswith("/api/v1")}
    assert api_routes <= set(paths)
    assert client.get("/api/docs").status_code == 200
