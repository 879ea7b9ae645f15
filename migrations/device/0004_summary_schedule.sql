-- The caseload's cached lines now carry what the well-being schedule counts from; the cache is
-- emptied so every line is computed again in the new shape (it is rebuilt on the next read).
DELETE FROM citizen_summaries;
