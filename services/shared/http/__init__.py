"""HTTP plumbing shared by the services' APIs (FastAPI). Importing it spares FastAPI's
route declarations the work a cold start need not do (`lazy`), before any route exists."""

from shared.http.lazy import defer_type_adapters, skip_pydantic_v1_import

defer_type_adapters()
skip_pydantic_v1_import()
