package domain

// Principal is the authenticated caller, taken from a verified JWT.
type Principal struct {
	UserID string
	// UserType is the role the token grants, or "" when the token carries no
	// user_type/role claim (then the caller may subscribe in either role).
	UserType UserType
}

// MayActAs reports whether the caller may subscribe in role t.
func (p Principal) MayActAs(t UserType) bool {
	return p.UserType == "" || p.UserType == t
}
