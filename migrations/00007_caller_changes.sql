-- Announce every change that can end or alter an authenticated caller (the user, their logins,
-- their memberships) on the yw_callers channel, payload the user's id, so API processes drop what
-- they cached about that user.
-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION yw_caller_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    before text := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) ->> TG_ARGV[0] END;
    after  text := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) ->> TG_ARGV[0] END;
BEGIN
    IF before IS NOT NULL THEN
        PERFORM pg_notify('yw_callers', before);
    END IF;
    IF after IS NOT NULL AND after IS DISTINCT FROM before THEN
        PERFORM pg_notify('yw_callers', after);
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER users_caller_changed AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION yw_caller_changed('id');
CREATE TRIGGER refresh_tokens_caller_changed AFTER UPDATE OR DELETE ON refresh_tokens
    FOR EACH ROW EXECUTE FUNCTION yw_caller_changed('user_id');
CREATE TRIGGER group_memberships_caller_changed AFTER INSERT OR UPDATE OR DELETE ON group_memberships
    FOR EACH ROW EXECUTE FUNCTION yw_caller_changed('user_id');

-- +goose Down
DROP TRIGGER group_memberships_caller_changed ON group_memberships;
DROP TRIGGER refresh_tokens_caller_changed ON refresh_tokens;
DROP TRIGGER users_caller_changed ON users;
DROP FUNCTION yw_caller_changed();
