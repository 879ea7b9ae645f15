-- Group visits: the visits of the citizens present at one group session share the session's id.
ALTER TABLE visits ADD COLUMN group_id TEXT;
CREATE INDEX visits_by_group ON visits (group_id) WHERE group_id IS NOT NULL;
