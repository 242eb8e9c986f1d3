"""Database roles, set up by the migration runner (as the master user) before any migration.

- `payment_owner` (NOLOGIN) owns the public schema and every table: migrations run under
  `SET ROLE payment_owner`, so what they create is never owned by the master user (whose
  password RDS rotates) nor by the service.
- The application role (DB_USER, `payment_app` on ECS) can log in, holds no role attributes,
  owns nothing, and receives exactly the table privileges the service uses (revision 0002).
  On Aurora it is granted `rds_iam`, so it logs in with IAM tokens only; it has no password.

Idempotent: every run repeats it under the migration advisory lock. It must work for the RDS
master user, who is not a superuser: only CREATEROLE, CREATEDB and the database's ownership.
"""

from __future__ import annotations

from alembic import context, op
from sqlalchemy import Connection, text

OWNER_ROLE = "payment_owner"
# Where env.py hands the application role (DB_USER) to the revisions that grant to it.
APP_ROLE_ATTRIBUTE = "app_role"
# A transaction-local setting carries the application role's name into the DO block below (a
# DO block takes no bind parameters), where format('%I') quotes it.
_APP_ROLE_SETTING = "payment_migrate.app_role"

# NOTE: ALTER ROLE ... NOSUPERUSER is refused to a non-superuser even on a role that is not one,
# so the attributes are set when the role is created, and an existing role is only altered
# where it holds one it must not have (a superuser application role is an error instead).
# CREATE ROLE races between databases of one cluster (the advisory lock is per database) are
# caught: whichever run creates the role, the result is the same.
_BOOTSTRAP = """
DO $bootstrap$
DECLARE
    owner_role CONSTANT name := 'payment_owner';
    app_role CONSTANT name := current_setting('payment_migrate.app_role');
    app record;
BEGIN
    IF app_role = session_user OR app_role = owner_role THEN
        RAISE EXCEPTION 'the application role must not be % (it would own the schema)', app_role;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = owner_role) THEN
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', owner_role);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    -- Lets the master user SET ROLE to it (a CREATEROLE creator is not a member by itself).
    EXECUTE format('GRANT %I TO CURRENT_USER', owner_role);
    EXECUTE format('ALTER SCHEMA public OWNER TO %I', owner_role);
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    -- PUBLIC may create temporary tables by default; the service never needs one.
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    -- Created by the master user before roles existed: hand them over.
    EXECUTE format('ALTER TABLE IF EXISTS public.payments OWNER TO %I', owner_role);
    EXECUTE format('ALTER TABLE IF EXISTS public.alembic_version OWNER TO %I', owner_role);

    SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin INTO app
      FROM pg_roles WHERE rolname = app_role;
    IF NOT FOUND THEN
        BEGIN
            EXECUTE format(
                'CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION '
                'NOBYPASSRLS', app_role);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    ELSIF app.rolsuper THEN
        RAISE EXCEPTION 'the application role % is a superuser; refusing to serve with it',
            app_role;
    ELSIF app.rolcreatedb OR app.rolcreaterole OR NOT app.rolcanlogin THEN
        EXECUTE format('ALTER ROLE %I LOGIN NOCREATEDB NOCREATEROLE', app_role);
    END IF;
    -- Aurora/RDS only: membership makes the role log in with IAM tokens (vanilla PostgreSQL has
    -- no such role, and the role then simply has no way in but what an operator gives it).
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam')
       AND NOT EXISTS (
           SELECT FROM pg_auth_members m
             JOIN pg_roles r ON r.oid = m.roleid AND r.rolname = 'rds_iam'
             JOIN pg_roles u ON u.oid = m.member AND u.rolname = app_role) THEN
        EXECUTE format('GRANT rds_iam TO %I', app_role);
    END IF;
END
$bootstrap$
"""


def bootstrap(connection: Connection, app_role: str) -> None:
    """Create or fix the roles and ownership (in the caller's transaction, under its lock)."""
    connection.execute(
        text("SELECT set_config(:name, :role, true)"), {"name": _APP_ROLE_SETTING, "role": app_role}
    )
    connection.exec_driver_sql(_BOOTSTRAP)  # verbatim: no bind-parameter parsing of the body


def become_owner(connection: Connection) -> None:
    """Run the rest of the transaction as the owner role, so new objects belong to it."""
    connection.execute(text(f"SET LOCAL ROLE {OWNER_ROLE}"))


def quoted_app_role() -> str:
    """Inside a revision: the application role's name (DB_USER, handed over by env.py, never
    a name written in a revision), quoted by the server (quote_ident) for use in DDL.
    """
    role = context.config.attributes.get(APP_ROLE_ATTRIBUTE)
    if not isinstance(role, str) or not role:
        raise RuntimeError("the application role (DB_USER) was not passed to the migration")
    quoted = op.get_bind().execute(text("SELECT quote_ident(:role)"), {"role": role})
    return str(quoted.scalar_one())
