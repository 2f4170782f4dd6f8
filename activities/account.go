package activities

import (
	"context"

	"github.com/google/uuid"

	"github.com/youworker/youworker/activities/spec"
)

// accountDeleter runs the steps of deleting an account (account.Deleter).
type accountDeleter interface {
	Lock(ctx context.Context, userID uuid.UUID) error
	CancelTurns(ctx context.Context, userID uuid.UUID) (int, error)
	DeleteData(ctx context.Context, userID uuid.UUID) (int, error)
	Audit(ctx context.Context, userID uuid.UUID, username string, documents int) error
}

// Account runs the DeleteAccount workflow's steps.
type Account struct {
	Deleter accountDeleter
}

type AccountInput = spec.AccountInput

// LockAccount locks the account out (no login, token or key works).
func (a *Account) LockAccount(ctx context.Context, in AccountInput) error {
	return a.Deleter.Lock(ctx, in.UserID)
}

// CancelAccountTurns asks the account's running turns to stop.
func (a *Account) CancelAccountTurns(ctx context.Context, in AccountInput) (int, error) {
	return a.Deleter.CancelTurns(ctx, in.UserID)
}

// DeleteAccountData deletes everything the account owns and the account itself.
func (a *Account) DeleteAccountData(ctx context.Context, in AccountInput) (int, error) {
	return a.Deleter.DeleteData(ctx, in.UserID)
}

// AuditAccountDeletion records that the account is gone.
func (a *Account) AuditAccountDeletion(ctx context.Context, in AccountInput, documents int) error {
	return a.Deleter.Audit(ctx, in.UserID, in.Username, documents)
}
