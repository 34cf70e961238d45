"""HTTP transport: FastAPI app factory, dependencies and routers."""
