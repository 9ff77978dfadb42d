-- Runs once, when the compose Postgres volume is first initialised.
-- One database per service, each owned by its own login role, and no other
-- role may connect to it: the same isolation production gets from separate
-- servers and credentials. Passwords are DEVELOPMENT ONLY.
CREATE ROLE meterflow_identity LOGIN PASSWORD 'dev-identity-password';
CREATE ROLE meterflow_wallet LOGIN PASSWORD 'dev-wallet-password';
CREATE ROLE meterflow_workflow LOGIN PASSWORD 'dev-workflow-password';
CREATE ROLE meterflow_notify LOGIN PASSWORD 'dev-notify-password';

CREATE DATABASE meterflow_identity OWNER meterflow_identity;
CREATE DATABASE meterflow_wallet OWNER meterflow_wallet;
CREATE DATABASE meterflow_workflow OWNER meterflow_workflow;
CREATE DATABASE meterflow_notify OWNER meterflow_notify;

REVOKE CONNECT ON DATABASE meterflow_identity FROM PUBLIC;
REVOKE CONNECT ON DATABASE meterflow_wallet FROM PUBLIC;
REVOKE CONNECT ON DATABASE meterflow_workflow FROM PUBLIC;
REVOKE CONNECT ON DATABASE meterflow_notify FROM PUBLIC;
