"""The admin's pages for one kind of record: list (search, paging), detail, new, edit, and delete
with a confirmation step.

A kind of record is a ``Section``: a small class that names the kind, its form and its repository,
and overrides the async methods where the generic pages need more (how a form becomes the
repository's arguments, what a detail page shows besides the record). Its module lists its URLs
literally in ``default_handlers``, each with one of the generic handlers below. Adding a section is
one module (a Section and its URLs) and its templates under ``templates/<slug>/``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from bson import ObjectId

from domain.errors import Conflict, DomainError, InvalidValue, MissingReference, StillReferenced
from handlers.base import BaseHandler
from handlers.forms import SpanishForm
from repositories import Repositories
from repositories.auditoria import AuditEntry
from repositories.base import Page

PER_PAGE = 20
R = TypeVar("R")


class RecordRepository(Protocol[R]):
    """What the generic pages need of a repository."""

    async def search(self, *, q: str, page: int, per_page: int) -> Page[R]: ...
    async def get(self, record_id: str) -> R: ...
    async def create(self, **fields: Any) -> R: ...
    async def update(self, record_id: str, **fields: Any) -> R: ...
    async def delete(self, record_id: str) -> None: ...


class Section(Generic[R]):
    """One kind of record in the admin. Subclasses set the names and the form, return their
    repository, and override the hooks they need; a section is made per request, over the
    application's repositories."""

    slug: ClassVar[str]  # URL segment and template folder: "personas"
    title: ClassVar[str]  # "Personas"
    the_one: ClassVar[str]  # "la persona", as in "Se creó la persona …"
    of_the_one: ClassVar[str]  # "de la persona" ("del vehículo"), as in "Se guardaron los cambios de la persona …"
    new_title: ClassVar[str]  # "Nueva persona"
    form: ClassVar[type[SpanishForm]]
    # The list where the records that block a delete are found (searched by the names it reports).
    references_path: ClassVar[str | None] = None

    def __init__(self, repos: Repositories) -> None:
        self.repos = repos

    @property
    def repository(self) -> RecordRepository[R]:
        raise NotImplementedError

    @property
    def path(self) -> str:
        return f"/admin/{self.slug}/"

    def url(self, record_id: str, action: str = "") -> str:
        return f"{self.path}{record_id}" + (f"/{action}" if action else "")

    def label(self, record: R) -> str:
        """How a record is named in headings and messages."""
        raise NotImplementedError

    async def fields(self, form: SpanishForm) -> dict[str, Any]:
        """A valid form as the repository's keyword arguments."""
        return dict(form.data)

    async def form_data(self, record: R) -> dict[str, Any]:
        """A record as the edit form's initial data."""
        return dataclasses.asdict(record)  # type: ignore[call-overload]

    async def new_form_data(self, query: Mapping[str, str]) -> dict[str, Any]:
        """The new-record form's initial data, from the page's query arguments."""
        return {}

    async def detail_context(self, record: R) -> dict[str, Any]:
        """What a detail page shows besides the record."""
        return {}

    async def list_context(self, page: Page[R]) -> dict[str, Any]:
        """What a list page shows besides its records."""
        return {}

    async def history(self, record: R) -> list[AuditEntry]:
        """The record's entries in the audit trail, newest first."""
        return await self.repos.auditoria.history(self.slug, ObjectId(record.id))  # type: ignore[attr-defined]


class SectionHandler(BaseHandler):
    def initialize(self, section: type[Section[Any]]) -> None:  # type: ignore[override]
        super().initialize()
        self._section_class = section
        self._section: Section[Any] | None = None

    @property
    def section(self) -> Section[Any]:
        """The section over this request's repositories (which write as the logged-in
        administrator once ``prepare`` has found them)."""
        if self._section is None or self._section.repos is not self.repos:
            self._section = self._section_class(self.repos)
        return self._section

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace["section"] = self.section
        return namespace

    def query_arguments(self) -> dict[str, str]:
        return {name: self.get_query_argument(name) for name in self.request.query_arguments}

    def render_form(self, form: SpanishForm, *, title: str, action: str, cancel: str, status: int = 200) -> None:
        self.set_status(status)
        self.render("form.html", form=form, title=title, action=action, cancel=cancel, error=None)

    async def save(self, form: SpanishForm, write: Any) -> Any | None:
        """Validate the form and write it with ``write(fields)``. On a refusal, attach the message
        to its field (or to the whole form) and return None, so the caller re-renders the form
        with the user's values."""
        if not form.validate():
            return None
        try:
            return await write(await self.section.fields(form))
        except (Conflict, MissingReference, InvalidValue) as error:
            field = getattr(form, error.field, None) if error.field else None
            if field is not None:
                field.errors = [*field.errors, error.message]
            else:
                form.form_errors.append(error.message)
            return None


class ListHandler(SectionHandler):
    async def get(self) -> None:
        q = self.get_query_argument("q", "").strip()[:100]
        page = await self.section.repository.search(q=q, page=self.page_argument(), per_page=PER_PAGE)
        context = await self.section.list_context(page)
        self.render(f"{self.section.slug}/list.html", page=page, q=q, **context)


class NewHandler(SectionHandler):
    def _render(self, form: SpanishForm, status: int = 200) -> None:
        section = self.section
        self.render_form(form, title=section.new_title, action=f"{section.path}nuevo", cancel=section.path, status=status)

    async def get(self) -> None:
        initial = await self.section.new_form_data(self.query_arguments())
        self._render(self.section.form(data=initial or None))

    async def post(self) -> None:
        form = self.section.form.from_request(self)
        record = await self.save(form, lambda fields: self.section.repository.create(**fields))
        if record is None:
            self._render(form, status=400)
            return
        self.flash(f"Se creó {self.section.the_one} {self.section.label(record)}.")
        self.redirect(self.section.url(record.id))


class DetailHandler(SectionHandler):
    async def get(self, record_id: str) -> None:
        record = await self.section.repository.get(record_id)
        context = await self.section.detail_context(record)
        self.render(f"{self.section.slug}/detail.html", record=record, **context)


class EditHandler(SectionHandler):
    def _render(self, form: SpanishForm, record: Any, status: int = 200) -> None:
        section = self.section
        title = f"Editar {section.the_one} {section.label(record)}"
        self.render_form(form, title=title, action=section.url(record.id, "editar"), cancel=section.url(record.id), status=status)

    async def get(self, record_id: str) -> None:
        record = await self.section.repository.get(record_id)
        self._render(self.section.form(data=await self.section.form_data(record)), record)

    async def post(self, record_id: str) -> None:
        record = await self.section.repository.get(record_id)
        form = self.section.form.from_request(self)
        updated = await self.save(form, lambda fields: self.section.repository.update(record.id, **fields))
        if updated is None:
            self._render(form, record, status=400)
            return
        self.flash(f"Se guardaron los cambios {self.section.of_the_one} {self.section.label(updated)}.")
        self.redirect(self.section.url(updated.id))


class DeleteHandler(SectionHandler):
    def _confirm(self, record: Any, *, error: DomainError | None = None, status: int = 200) -> None:
        self.set_status(status)
        self.render(
            "confirm_delete.html",
            record=record,
            label=self.section.label(record),
            error=error.message if error else None,
            references=getattr(error, "references", []),
        )

    async def get(self, record_id: str) -> None:
        self._confirm(await self.section.repository.get(record_id))

    async def post(self, record_id: str) -> None:
        record = await self.section.repository.get(record_id)
        try:
            await self.section.repository.delete(record.id)
        except StillReferenced as error:
            self._confirm(record, error=error, status=409)
            return
        self.flash(f"Se borró {self.section.the_one} {self.section.label(record)}.")
        self.redirect(self.section.path)
