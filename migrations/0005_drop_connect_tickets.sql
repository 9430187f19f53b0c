-- Connect tickets are signed by the Worker and spent at the user's object
-- (src/auth/tokens.ts, src/user/tickets.ts): the table that held them is no longer used.
DROP TABLE connect_tickets;
