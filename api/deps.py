"""FastAPI dependencies: the service objects of this app and the authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import ApiKeyAuth
from api.signing import FileUrlSigner
from service.jobstore import JobStore
from service.queue import JobRunner
from service.settings import Settings
from service.storage import Storage


@dataclass
class Service:
    """Everything a route needs, built once by the app factory."""

    settings: Settings
    store: JobStore
    storage: Storage
    runner: JobRunner
    auth: ApiKeyAuth
    signer: FileUrlSigner = field(default_factory=FileUrlSigner)  # signed file URLs (local storage)


def get_service(request: Request) -> Service:
    return request.app.state.service


_bearer = HTTPBearer(auto_error=False, description="an API key from GLD8TR_API_KEYS")


def get_owner(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """The caller's owner id. ``creds`` is declared so that OpenAPI documents the bearer scheme; the raw header is
    parsed by ``ApiKeyAuth`` so that every malformed variant gets the same 401 problem."""
    service: Service = request.app.state.service
    return service.auth.owner_for(request.headers.get("authorization"))


ServiceDep = Annotated[Service, Depends(get_service)]
OwnerDep = Annotated[str, Depends(get_owner)]
# The bearer scheme without enforcing it, for routes that also accept a signed URL (they call ``auth`` themselves).
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
