"""Server-rendered web pages (Jinja2) and their static assets."""
