-- The Device Compliance verdict last sent for a computer (`compliant`, `noncompliant`)
-- or `not_applicable`: a change of group membership is sent once.
ALTER TABLE computers ADD COLUMN reported_verdict TEXT;
