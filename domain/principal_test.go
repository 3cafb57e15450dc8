package domain_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/domain"
)

func TestPrincipalMayActAs(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		userType domain.UserType
		as       domain.UserType
		want     bool
	}{
		{name: "no claim as client", userType: "", as: domain.UserTypeClient, want: true},
		{name: "no claim as owner", userType: "", as: domain.UserTypeOwner, want: true},
		{name: "client as client", userType: domain.UserTypeClient, as: domain.UserTypeClient, want: true},
		{name: "client as owner", userType: domain.UserTypeClient, as: domain.UserTypeOwner, want: false},
		{name: "owner as owner", userType: domain.UserTypeOwner, as: domain.UserTypeOwner, want: true},
		{name: "owner as client", userType: domain.UserTypeOwner, as: domain.UserTypeClient, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			p := domain.Principal{UserID: "u1", UserType: tt.userType}
			require.Equal(t, tt.want, p.MayActAs(tt.as))
		})
	}
}
