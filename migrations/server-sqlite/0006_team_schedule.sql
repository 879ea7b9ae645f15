-- A team's well-being schedule: measured at the first visit or not, and again every so many days
-- (NULL: only at the first visit). NULL in wellbeing_at_first_visit: the team has set none and
-- devices follow the default schedule.
ALTER TABLE teams ADD COLUMN wellbeing_at_first_visit INTEGER CHECK (wellbeing_at_first_visit IN (0, 1));
ALTER TABLE teams ADD COLUMN wellbeing_every_days INTEGER CHECK (wellbeing_every_days BETWEEN 1 AND 3650);
