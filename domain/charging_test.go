package domain_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/domain"
)

func TestChargeAmount(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		energy float64
		price  string
		want   domain.Cents
	}{
		{name: "half-up at exactly half", energy: 12.5, price: "13.33", want: 16663},
		{name: "half a cent rounds up", energy: 1, price: "0.005", want: 1},
		{name: "below half a cent rounds down", energy: 1, price: "0.0049999", want: 0},
		{name: "half a cent from energy", energy: 0.5, price: "0.01", want: 1},
		{name: "zero energy", energy: 0, price: "13.33", want: 0},
		{name: "negative zero energy", energy: math.Copysign(0, -1), price: "13.33", want: 0},
		{name: "zero price", energy: 12.5, price: "0", want: 0},
		{name: "no float error", energy: 3, price: "0.1", want: 30},
		{name: "no float error from energy", energy: 0.1, price: "3", want: 30},
		// 2.675 is 2.67499999… as a float64; billing uses the decimal the
		// driver sees, so it is half a cent and rounds up.
		{name: "decimal energy, not binary", energy: 2.675, price: "1", want: 268},
		{name: "decimal energy 1.005", energy: 1.005, price: "1", want: 101},
		{name: "integer price", energy: 7, price: "12", want: 8400},
		{name: "many price decimals", energy: 1, price: "13.334999", want: 1333},
		{name: "max energy", energy: domain.MaxEnergyKWh, price: "13.33", want: 666_500},
		{name: "large amount", energy: domain.MaxEnergyKWh, price: "1000000", want: 50_000_000_000},
		{name: "largest amount that fits", energy: 1, price: "92233720368547758.07", want: math.MaxInt64},
		{name: "largest amount after rounding", energy: 1, price: "92233720368547758.0749", want: math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, err := domain.ChargeAmount(tt.energy, tt.price)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestChargeAmount_InvalidEnergy(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		energy float64
	}{
		{name: "negative", energy: -0.01},
		{name: "negative one", energy: -1},
		{name: "NaN", energy: math.NaN()},
		{name: "above max", energy: domain.MaxEnergyKWh + 0.001},
		{name: "plus infinity", energy: math.Inf(1)},
		{name: "minus infinity", energy: math.Inf(-1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, err := domain.ChargeAmount(tt.energy, "13.33")
			require.Zero(t, got)
			requireFieldErrors(t, err, "energy_kwh")
		})
	}
}

func TestChargeAmount_Overflow(t *testing.T) {
	t.Parallel()

	// A price that overflows the amount is a data problem, not the driver's
	// input: not a validation error (that would be a 422 for the caller).
	for _, price := range []string{"92233720368547758.075", "1000000000000000000000000000000"} {
		t.Run(price, func(t *testing.T) {
			t.Parallel()

			got, err := domain.ChargeAmount(1, price)
			require.Zero(t, got)
			require.Error(t, err)
			require.NotErrorIs(t, err, domain.ErrInvalid)
		})
	}
	// Not plain decimals: refused although big.Rat would read them.
	for _, price := range []string{"1e2", "1/3", "0x10", "1_000"} {
		_, err := domain.ChargeAmount(1, price)
		require.Error(t, err, price)
	}
	got, err := domain.ParseCents("-1.50")
	require.NoError(t, err)
	require.Equal(t, "-1.50", got.String())
}

func TestChargeAmount_BadPrice(t *testing.T) {
	t.Parallel()

	for _, price := range []string{"", "abc", "13,33", "-1", "-0.01", " 13.33", "13.33 ", "13.33 KGS", "Inf", "NaN"} {
		t.Run(price, func(t *testing.T) {
			t.Parallel()

			got, err := domain.ChargeAmount(12.5, price)
			require.Zero(t, got)
			require.Error(t, err)
			// A broken station price is not the caller's input.
			var verr *domain.ValidationError
			require.False(t, errors.As(err, &verr), "bad price must not be a ValidationError: %v", err)
			require.Contains(t, err.Error(), price)
		})
	}
}

func TestCents_String(t *testing.T) {
	t.Parallel()

	tests := []struct {
		cents domain.Cents
		want  string
	}{
		{cents: 16663, want: "166.63"},
		{cents: 5, want: "0.05"},
		{cents: 50, want: "0.50"},
		{cents: 0, want: "0.00"},
		{cents: 100, want: "1.00"},
		{cents: 123456789, want: "1234567.89"},
		{cents: -150, want: "-1.50"},
		{cents: -5, want: "-0.05"},
		{cents: math.MaxInt64, want: "92233720368547758.07"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()

			require.Equal(t, tt.want, tt.cents.String())
		})
	}
}

func TestCents_Float(t *testing.T) {
	t.Parallel()

	require.InDelta(t, 166.63, domain.Cents(16663).Float(), 0)
	require.InDelta(t, 0.05, domain.Cents(5).Float(), 0)
	require.Zero(t, domain.Cents(0).Float())
}

func TestParseCents(t *testing.T) {
	t.Parallel()

	tests := []struct {
		in   string
		want domain.Cents
	}{
		{in: "166.63", want: 16663},
		{in: "0.05", want: 5},
		{in: "0", want: 0},
		{in: "0.00", want: 0},
		{in: "1", want: 100},
		{in: "1.5", want: 150},
		{in: "166.625", want: 16663},
		{in: "166.6249", want: 16662},
		{in: "0.005", want: 1},
		{in: "92233720368547758.07", want: math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()

			got, err := domain.ParseCents(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseCents_Invalid(t *testing.T) {
	t.Parallel()

	for _, in := range []string{"", "abc", "1,50", "1.5.0", "92233720368547758.08"} {
		t.Run(in, func(t *testing.T) {
			t.Parallel()

			got, err := domain.ParseCents(in)
			require.Error(t, err)
			require.Zero(t, got)
		})
	}
}

func TestCents_RoundTrip(t *testing.T) {
	t.Parallel()

	for _, c := range []domain.Cents{0, 1, 5, 99, 100, 16663, 1_000_000_000_000, math.MaxInt64} {
		got, err := domain.ParseCents(c.String())
		require.NoError(t, err, c.String())
		require.Equal(t, c, got)
	}
}

func TestChargingEvent_Key(t *testing.T) {
	t.Parallel()

	started := domain.ChargingEvent{Kind: domain.EventChargingStarted, SessionID: "sess-1"}
	completed := domain.ChargingEvent{Kind: domain.EventChargingCompleted, SessionID: "sess-1"}
	other := domain.ChargingEvent{Kind: domain.EventChargingStarted, SessionID: "sess-2"}

	require.Equal(t, "charging_started:sess-1", started.Key())
	require.Equal(t, "charging_completed:sess-1", completed.Key())
	require.NotEqual(t, started.Key(), completed.Key())
	require.NotEqual(t, started.Key(), other.Key())

	// Fields other than kind and session do not change the identity.
	again := started
	again.EnergyKWh, again.OccurredAt = 3, time.Now()
	require.Equal(t, started.Key(), again.Key())
}

func TestChargingEvent_Recipients(t *testing.T) {
	t.Parallel()
	// Each role hears the event under its own kind.
	started := domain.Pref{Class: domain.PrefKind, Name: "charging_started"}
	newSession := domain.Pref{Class: domain.PrefKind, Name: "new_session"}

	tests := []struct {
		name   string
		driver string
		owner  string
		want   []domain.Recipient
	}{
		{
			name:   "driver and owner",
			driver: "driver-1",
			owner:  "owner-1",
			want: []domain.Recipient{
				{UserID: "driver-1", UserType: domain.UserTypeClient, Pref: started},
				{UserID: "owner-1", UserType: domain.UserTypeOwner, Pref: newSession},
			},
		},
		{
			name:   "owner missing",
			driver: "driver-1",
			want:   []domain.Recipient{{UserID: "driver-1", UserType: domain.UserTypeClient, Pref: started}},
		},
		{
			name:  "driver missing",
			owner: "owner-1",
			want:  []domain.Recipient{{UserID: "owner-1", UserType: domain.UserTypeOwner, Pref: newSession}},
		},
		{
			name:   "owner charging at own station",
			driver: "user-1",
			owner:  "user-1",
			want: []domain.Recipient{
				{UserID: "user-1", UserType: domain.UserTypeClient, Pref: started},
				{UserID: "user-1", UserType: domain.UserTypeOwner, Pref: newSession},
			},
		},
		{name: "nobody"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			ev := domain.ChargingEvent{
				Kind: domain.EventChargingStarted, SessionID: "sess-1", StationID: "st-1",
				DriverID: tt.driver, OwnerID: tt.owner,
			}
			got := ev.Recipients()
			if len(tt.want) == 0 {
				require.Empty(t, got)
				return
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestChargingEvent_Validate(t *testing.T) {
	t.Parallel()

	valid := func() domain.ChargingEvent {
		return domain.ChargingEvent{
			Kind: domain.EventChargingStarted, SessionID: "sess-1", StationID: "st-1",
			ConnectorID: 1, DriverID: "driver-1", OwnerID: "owner-1",
		}
	}
	tests := []struct {
		name   string
		modify func(ev *domain.ChargingEvent)
		fields []string // nil: valid
	}{
		{name: "started", modify: func(*domain.ChargingEvent) {}},
		{name: "completed", modify: func(ev *domain.ChargingEvent) {
			ev.Kind, ev.EnergyKWh, ev.Amount = domain.EventChargingCompleted, 12.5, 16663
		}},
		{name: "driver only", modify: func(ev *domain.ChargingEvent) { ev.OwnerID = "" }},
		{name: "owner only", modify: func(ev *domain.ChargingEvent) { ev.DriverID = "" }},
		{name: "no kind", modify: func(ev *domain.ChargingEvent) { ev.Kind = "" }, fields: []string{"kind"}},
		{name: "unknown kind", modify: func(ev *domain.ChargingEvent) { ev.Kind = "charging_paused" }, fields: []string{"kind"}},
		{name: "no session", modify: func(ev *domain.ChargingEvent) { ev.SessionID = "" }, fields: []string{"session_id"}},
		{name: "no user", modify: func(ev *domain.ChargingEvent) { ev.DriverID, ev.OwnerID = "", "" }, fields: []string{"user_id"}},
		{
			name:   "everything missing",
			modify: func(ev *domain.ChargingEvent) { *ev = domain.ChargingEvent{} },
			fields: []string{"kind", "session_id", "user_id"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			ev := valid()
			tt.modify(&ev)
			err := ev.Validate()
			if tt.fields == nil {
				require.NoError(t, err)
				return
			}
			requireFieldErrors(t, err, tt.fields...)
		})
	}
}
