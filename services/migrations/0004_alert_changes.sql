-- Every new alert and every change of status takes the next number: the live stream's event
-- id, so a client that reconnects with Last-Event-ID misses nothing and sees nothing twice.
CREATE SEQUENCE alert_change_seq;
ALTER TABLE alerts ADD COLUMN change_seq bigint NOT NULL DEFAULT nextval('alert_change_seq');
CREATE INDEX alerts_by_change ON alerts (change_seq);
