"""Nothing blocks the event loop: a route handler that uses the database is a plain function
(run in the thread pool); forms and bodies are read by async dependencies."""

import inspect
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy.orm import Session

from ketaclinic.app import create_app
from ketaclinic.web.deps import DB, get_db


def uses_db(dependant: Any) -> bool:
    """Whether a route or any of its dependencies takes the database session."""
    return any(d.call is get_db or uses_db(d) for d in getattr(dependant, "dependencies", []))


def async_handlers_using_db(app: FastAPI) -> list[str]:
    """The routes (included routers flattened) whose handler is `async def` and takes the
    database session."""
    return sorted(f"{sorted(c.methods or ())} {c.path}" for c in iter_route_contexts(app.routes)
                  if inspect.iscoroutinefunction(inspect.unwrap(c.endpoint))
                  and uses_db(getattr(c, "dependant", None)))


def test_no_async_handler_uses_the_database() -> None:
    assert async_handlers_using_db(create_app()) == []


def test_the_check_finds_an_async_handler_with_the_database() -> None:
    router = APIRouter()

    @router.get("/blocking")
    async def blocking(db: Session = DB) -> None:
        """An async handler that would run the database on the loop."""

    @router.get("/threaded")
    def threaded(db: Session = Depends(get_db)) -> None:
        """A plain handler: fine."""

    app = FastAPI()
    app.include_router(router, prefix="/p")
    assert async_handlers_using_db(app) == ["['GET'] /p/blocking"]
