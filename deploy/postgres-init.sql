-- One database per service: no service reads another's data.
CREATE DATABASE auth;
CREATE DATABASE tasks;
CREATE DATABASE accounting;
CREATE DATABASE analytics;
