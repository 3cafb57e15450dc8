package domain

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"time"
)

// Station is a charging station, as far as notifications need it.
type Station struct {
	ID          string
	OwnerID     string
	PricePerKWh string // decimal, in Currency per kWh
}

// SessionStatus is the state of a charging session.
type SessionStatus string

// Session states.
const (
	SessionActive    SessionStatus = "active"
	SessionCompleted SessionStatus = "completed"
)

// ChargingSession is one car charging at one connector.
type ChargingSession struct {
	ID          string
	UserID      string // the driver
	StationID   string
	ConnectorID int
	Status      SessionStatus
	EnergyKWh   float64
	Amount      Cents
	StartedAt   time.Time
	StoppedAt   *time.Time
}

// Cents is an amount of money in hundredths of the currency unit, so sums are
// exact.
type Cents int64

// String formats c as a decimal with two places ("166.63").
func (c Cents) String() string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

// ParseCents reads a decimal amount ("166.63", "-1.5"), rounding half away
// from zero to cents.
func ParseCents(s string) (Cents, error) {
	r, ok := parseDecimal(s)
	if !ok {
		return 0, fmt.Errorf("amount %q is not a decimal number", s)
	}
	return roundCents(r)
}

// Float returns c in currency units, for JSON.
func (c Cents) Float() float64 { return float64(c) / 100 }

// MaxEnergyKWh bounds one session's energy: above any car battery (the
// largest hold about 200 kWh), so a typo cannot bill a fortune.
const MaxEnergyKWh = 500

// ChargeAmount is energy × price, rounded half-up to cents. The arithmetic is
// exact (rationals): 12.5 kWh at 13.33 is 166.625, billed 166.63.
func ChargeAmount(energyKWh float64, pricePerKWh string) (Cents, error) {
	if math.IsNaN(energyKWh) || energyKWh < 0 || energyKWh > MaxEnergyKWh {
		return 0, Invalid("energy_kwh", fmt.Sprintf("must be between 0 and %d", MaxEnergyKWh))
	}
	energy, _ := parseDecimal(strconv.FormatFloat(energyKWh, 'f', -1, 64))
	price, ok := parseDecimal(pricePerKWh)
	if !ok || price.Sign() < 0 {
		// The price comes from the stations table: a data problem, not the caller's.
		return 0, fmt.Errorf("station price %q is not a non-negative decimal", pricePerKWh)
	}
	return roundCents(new(big.Rat).Mul(energy, price))
}

var decimalRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// parseDecimal accepts plain decimals only; big.Rat alone would also take
// "1/3", "0x10" or "1e2".
func parseDecimal(s string) (*big.Rat, bool) {
	if !decimalRE.MatchString(s) {
		return nil, false
	}
	return new(big.Rat).SetString(s)
}

// roundCents rounds an amount in currency units to cents, half away from zero.
func roundCents(units *big.Rat) (Cents, error) {
	c := new(big.Rat).Mul(units, big.NewRat(100, 1))
	half := big.NewRat(1, 2)
	if c.Sign() < 0 {
		half.Neg(half)
	}
	c.Add(c, half)
	q := new(big.Int).Quo(c.Num(), c.Denom()) // truncates toward zero
	if !q.IsInt64() || q.Int64() == math.MinInt64 {
		return 0, errors.New("amount out of range")
	}
	return Cents(q.Int64()), nil
}

// EventKind names a charging event; it is also the River job kind that
// carries it (a stable contract, see the README).
type EventKind string

// The two events of the charging flow.
const (
	EventChargingStarted   EventKind = "charging_started"
	EventChargingCompleted EventKind = "charging_completed"
)

// ChargingEvent is what happened, with every field any recipient's message
// needs.
type ChargingEvent struct {
	Kind        EventKind
	SessionID   string
	StationID   string
	ConnectorID int
	DriverID    string
	OwnerID     string // "" when unknown: looked up from the station
	EnergyKWh   float64
	Amount      Cents
	OccurredAt  time.Time
}

// Key identifies the event for idempotency: one delivery per event and device.
func (e ChargingEvent) Key() string { return string(e.Kind) + ":" + e.SessionID }

// Recipient is a user in a role: the driver as client, the owner as owner.
type Recipient struct {
	UserID   string
	UserType UserType
	// Pref is what the user may have switched off to not hear this: the
	// kind each role gets differs per event (the driver's charging_started
	// is the owner's new_session). Zero: nothing silences it.
	Pref Pref
}

// Recipients are who hear of the event: the driver as client and the
// station's owner as owner, each under the kind its role gets.
func (e ChargingEvent) Recipients() []Recipient {
	var rs []Recipient
	for _, r := range []Recipient{{UserID: e.DriverID, UserType: UserTypeClient}, {UserID: e.OwnerID, UserType: UserTypeOwner}} {
		if r.UserID != "" {
			r.Pref = KindPref(TypeFor(e.Kind, r.UserType))
			rs = append(rs, r)
		}
	}
	return rs
}

// Validate checks the fields every event needs.
func (e ChargingEvent) Validate() error {
	v := &ValidationError{}
	if e.Kind != EventChargingStarted && e.Kind != EventChargingCompleted {
		v.Add("kind", "must be charging_started or charging_completed")
	}
	if e.SessionID == "" {
		v.Add("session_id", "is required")
	}
	if e.DriverID == "" && e.OwnerID == "" {
		v.Add("user_id", "is required")
	}
	return v.Err()
}
