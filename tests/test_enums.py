"""Audit actions and job types are enumerations (panel/audit/actions.py, panel/jobs/types.py):
every handler is registered under a JobType, every entry recorded is an AuditAction, and no
string spelling one of them is written anywhere else in the code, so a typo is an error and a
reader can list them all."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.contrib import admin

from panel.audit.actions import AuditAction
from panel.audit.admin import AuditedAdminMixin
from panel.audit.services import audit_record
from panel.jobs.runner import HANDLERS, register
from panel.jobs.services import job_create
from panel.jobs.types import JobType

ROOT = Path(__file__).resolve().parent.parent
ENUM_MODULES = {ROOT / "panel/audit/actions.py", ROOT / "panel/jobs/types.py"}
# Rate-limit names (panel.jobs.limits.ACTIONS) are their own namespace; some spell the same
# words as an audit action ("ssl.request"). They are allowed where a rate limit is named.
RATE_CALLS = {"rate_check", "rate_check_form"}


def _sources():
    for package in ("panel", "nusantara"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts and path not in ENUM_MODULES:
                yield path


def _rate_limit_names(tree: ast.AST) -> set[int]:
    """ids of the string constants that name a rate limit, not a job or an action."""
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in RATE_CALLS and node.args:
                allowed.add(id(node.args[0]))
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            if names & {"ACTIONS", "RETRY_LIMITS"} and isinstance(node.value, ast.Dict):
                for key, value in zip(node.value.keys, node.value.values, strict=True):
                    if "ACTIONS" in names:
                        allowed.add(id(key))
                    else:
                        allowed.add(id(value))
    return allowed


def test_every_registered_job_type_is_a_member_and_every_member_has_a_handler():
    assert HANDLERS, "the apps' ready() registers the handlers"
    assert all(isinstance(job_type, JobType) for job_type in HANDLERS), list(HANDLERS)
    assert set(HANDLERS) == set(JobType)


def test_register_refuses_a_free_string():
    with pytest.raises(TypeError):
        register("site.provision")  # type: ignore[arg-type]


@pytest.mark.django_db
def test_an_unknown_job_type_or_audit_action_is_refused():
    with pytest.raises(ValueError):
        job_create(type="site.provison", payload={})  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        audit_record(actor=None, action="site.craete", target_type="site")  # type: ignore[arg-type]


def test_stored_values_are_the_strings_of_before():
    # No data migration: the rows written before the enums still match their members.
    assert JobType.SITE_PROVISION == "site.provision"
    assert JobType("db.create") is JobType.DB_CREATE
    assert AuditAction("auth.login") is AuditAction.AUTH_LOGIN
    assert all(member.value.count(".") >= 1 for member in [*JobType, *AuditAction])


def test_no_job_type_or_audit_action_is_spelled_as_a_free_string():
    spelled = set(JobType.values) | set(AuditAction.values)
    found = []
    for path in _sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        allowed = _rate_limit_names(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in spelled
                and id(node) not in allowed
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not found, "use JobType/AuditAction members:\n" + "\n".join(found)


def test_every_audit_call_names_its_action_through_the_enum():
    """An f-string could spell anything (and fail only when the entry is written): each call of
    audit_record, or of an app's `_audit(job, action, ...)` wrapper, passes a member, a name
    bound to members, or AuditAction(...)."""
    bad = []
    for path in _sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name not in ("audit_record", "_audit"):
                continue
            given = [k.value for k in node.keywords if k.arg == "action"]
            if name == "_audit" and isinstance(node.func, ast.Name):
                given += node.args[1:2]
            for value in given:
                if isinstance(value, ast.Constant | ast.JoinedStr | ast.BinOp):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(value)}")
    assert not bad, bad


def test_the_admins_audited_changes_are_members():
    for model, model_admin in admin.site._registry.items():
        if isinstance(model_admin, AuditedAdminMixin):
            for verb in ("add", "change"):
                AuditAction(f"admin.{model._meta.model_name}.{verb}")
