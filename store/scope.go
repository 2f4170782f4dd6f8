package store

import (
	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/policy"
)

// The scopes every query of user-owned or group-shared objects goes through, in one place.

// ownedBy scopes a query on a user-owned table to the caller. Every query of user-owned objects
// goes through a scope like this one; the methods that need it take the caller as an argument.
func ownedBy(c models.Caller, column string) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB { return db.Where(column+" = ?", c.UserID) }
}

// visibleTo scopes a query on a table with owner and group columns to what the caller may read:
// their own rows and their groups' rows. Memberships come fresh with every request's caller.
func visibleTo(c models.Caller, table string) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		groups := c.GroupIDs()
		if len(groups) == 0 {
			return db.Where(table+".owner_id = ?", c.UserID)
		}
		return db.Where("("+table+".owner_id = ? OR "+table+".group_id IN ?)", c.UserID, groups)
	}
}

// canModify reports whether the caller may change or delete an object (the policy decides).
func canModify(c models.Caller, ownerID uuid.UUID, groupID *uuid.UUID) bool {
	return policy.Allow(c, policy.Object{OwnerID: ownerID, GroupID: groupID}, policy.Update)
}
