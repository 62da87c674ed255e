"""Role rows of ``GET /openapi.json`` (``snakepit/api/docs.py``): anybody reads the document,
and a token, even a forged one, is ignored."""

from tests.roles_common import Case, everyone

CASES = [Case("GET", "/openapi.json", "/openapi.json", everyone(200))]
