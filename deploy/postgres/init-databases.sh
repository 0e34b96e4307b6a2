#!/bin/sh
# PostgreSQL first start (/docker-entrypoint-initdb.d): one role and one database per
# auxpol process. Each role owns its database and may connect to no other one, so a
# process's credentials reach its own data only. Runs once, on an empty data volume.
set -eu

# Names are <prefix>_<process>; the prefix is "auxpol" unless AUXPOL_DB_PREFIX says
# otherwise (tests use a throwaway prefix on a shared server).
prefix="${AUXPOL_DB_PREFIX:-auxpol}"

create_database() {
  name="${prefix}_$1"
  password="$2"
  # psql variables (:"name", :'password') quote the identifier and the literal.
  psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --username "$POSTGRES_USER" --dbname postgres \
       --set=name="$name" --set=password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"name" TO :"name";
SQL
  echo "auxpol: created role and database $name"
}

create_database gateway "$POSTGRES_GATEWAY_PASSWORD"
create_database roster "$POSTGRES_ROSTER_PASSWORD"
create_database recruitment "$POSTGRES_RECRUITMENT_PASSWORD"
create_database compensation "$POSTGRES_COMPENSATION_PASSWORD"
