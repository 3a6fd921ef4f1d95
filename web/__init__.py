"""The Hedui web application: ``create_app`` builds it, blueprints add the features."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from web.config import load_config
from web.state import HeduiState


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application; ``config`` overrides defaults and ``HEDUI_*`` variables (tests)."""
    settings = load_config(config)
    app = Flask(__name__, instance_relative_config=False)
    app.config.update(settings)
    app.config["TESTING"] = settings["ENV"] == "testing"
    # one limit for every request body, enforced by Werkzeug before a view reads it (413, web/errors.py)
    app.config["MAX_CONTENT_LENGTH"] = int(settings["MAX_UPLOAD_MB"]) * 1024 * 1024
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    logging.basicConfig(level=settings["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SpiffWorkflow logs every task state change at INFO
    logging.getLogger("spiff").setLevel(max(logging.WARNING, logging.getLevelName(settings["LOG_LEVEL"])))
    if settings["TRUSTED_PROXIES"]:
        # the login throttle counts per client address: behind a proxy that address is in X-Forwarded-For
        hops = int(settings["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    state = HeduiState(settings)
    app.extensions["hedui"] = state
    from web import input_guard

    input_guard.init_converters(app)  # before any blueprint adds a route

    from web import db
    from web import errors
    from web import headers
    from web import jobs
    from web import login
    from web import people

    db.init_app(app)
    errors.init_app(app)
    headers.init_app(app)
    jobs.init_app(app)
    login.init_app(app)
    input_guard.init_app(app)  # after the sign-in and CSRF checks: a stranger's post is refused first
    people.init_app(app)
    register_blueprints(app)
    from web.cli import register_commands

    register_commands(app)
    return app


def register_blueprints(app: Flask) -> None:
    from web.api.blueprint import bp as api_bp

    app.register_blueprint(api_bp)
    from web.admin.blueprint import bp as admin_bp
    from web.home.blueprint import bp as home_bp

    app.register_blueprint(home_bp)
    app.register_blueprint(admin_bp)
    from web.inbox.blueprint import bp as inbox_bp

    app.register_blueprint(inbox_bp)
    from web.intake.blueprint import bp as intake_bp

    app.register_blueprint(intake_bp)
    from web.cases.blueprint import bp as cases_bp

    app.register_blueprint(cases_bp)
    from web.archives.blueprint import bp as archives_bp

    app.register_blueprint(archives_bp)
    from web.rechecks.blueprint import bp as rechecks_bp

    app.register_blueprint(rechecks_bp)
    from web.crosscity.blueprint import bp as crosscity_bp

    app.register_blueprint(crosscity_bp)
    from web.reports.blueprint import bp as reports_bp

    app.register_blueprint(reports_bp)
    from web.report_list.blueprint import bp as report_list_bp

    app.register_blueprint(report_list_bp)
    from web.admin_extra.blueprint import bp as admin_extra_bp

    app.register_blueprint(admin_extra_bp)
    from web.exchange.blueprint import bp as exchange_bp

    app.register_blueprint(exchange_bp)
    from web.audit.blueprint import bp as audit_bp

    app.register_blueprint(audit_bp)
    from web.stats.blueprint import bp as stats_bp

    app.register_blueprint(stats_bp)
    from web.credit.blueprint import bp as credit_bp

    app.register_blueprint(credit_bp)
    from web.supervise.blueprint import bp as supervise_bp

    app.register_blueprint(supervise_bp)
    from web.complaints.blueprint import bp as complaints_bp

    app.register_blueprint(complaints_bp)
    from web.spending.blueprint import bp as spending_bp

    app.register_blueprint(spending_bp)
    from web.designer.blueprint import bp as designer_bp

    app.register_blueprint(designer_bp)
    from web.designer_migrate.blueprint import bp as designer_migrate_bp

    app.register_blueprint(designer_migrate_bp)
    from web.designer_edit.blueprint import bp as designer_edit_bp

    app.register_blueprint(designer_edit_bp)
