// Command evpush delivers Web Push notifications for EvPower.
//
//	evpush serve [-migrate=false] [-api-only|-workers-only]
//	                                run the API and the workers (migrates first by default)
//	evpush migrate                  apply River's and evpush's migrations
//	evpush vapid [generate]         generate and print a VAPID key pair
//	evpush vapid rotate [-revoke]   make a new current VAPID key; the old one retires
//	evpush vapid list               list the VAPID keys and the subscriptions each holds
//	evpush token -user ID [-type client|owner] [-ttl 24h]
//	                                mint a development JWT with JWT_SECRET
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/evpower/evpush/adapters/auth"
	"github.com/evpower/evpush/adapters/postgres"
	"github.com/evpower/evpush/cmd/evpush/wiring"
	"github.com/evpower/evpush/domain"
)

const usage = `usage: evpush <command> [flags]

commands:
  serve     run the HTTP API (migrates first unless -migrate=false)
  migrate   apply River's and evpush's database migrations
  vapid     VAPID keys: generate (the default) prints a fresh pair; rotate [-revoke]
            makes a new current key in the database; list shows the keys
  token     mint a development JWT signed with JWT_SECRET

Configuration comes from the environment; see README.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "evpush:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("no command given")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, args)
	case "migrate":
		return migrate(ctx)
	case "vapid":
		return vapid(ctx, args, stdout)
	case "token":
		return token(args, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q (try: evpush help)", cmd)
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	doMigrate := fs.Bool("migrate", true, "apply migrations before serving")
	apiOnly := fs.Bool("api-only", false, "serve HTTP only; other instances work the jobs")
	workersOnly := fs.Bool("workers-only", false, "work jobs only; no HTTP listener")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *apiOnly && *workersOnly {
		return errors.New("serve: -api-only and -workers-only exclude each other")
	}
	cfg, err := wiring.LoadConfig(os.Getenv)
	if err != nil {
		return err
	}
	log := wiring.NewLogger(cfg)
	svc, err := wiring.New(ctx, cfg, log, wiring.Options{SkipMigrate: !*doMigrate, NoWorkers: *apiOnly})
	if err != nil {
		return err
	}
	defer svc.Close()
	var ln net.Listener
	if !*workersOnly {
		if ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return fmt.Errorf("error listening on HTTP_ADDR: %w", err)
		}
		log.Info("evpush serving", "addr", ln.Addr().String(), "workers", !*apiOnly)
	} else {
		log.Info("evpush working jobs", "workers", cfg.Workers)
	}
	return svc.Run(ctx, ln)
}

func migrate(ctx context.Context) error {
	cfg, err := wiring.LoadConfig(os.Getenv)
	if err != nil {
		return err
	}
	_, db, err := postgres.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := wiring.Migrate(ctx, db, cfg.ReferenceCharging); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "evpush: migrations applied")
	return nil
}

const vapidUsage = `usage: evpush vapid [generate | rotate [-revoke] | list]

  generate        print a fresh key pair (VAPID_PUBLIC_KEY=… VAPID_PRIVATE_KEY=…); the default
  rotate          make a new current key in the database; the current one retires and signs on
                  for its subscriptions until their devices move to the new key
  rotate -revoke  the same, and the old key stops signing at once (it leaked): its devices get
                  nothing until they move
  list            the keys, their states and how many subscriptions each still holds

rotate and list use DATABASE_URL and VAPID_KEY_ENCRYPTION_KEY as the service does (README,
"Rotating the VAPID key"). rotate refuses while VAPID_PUBLIC_KEY/VAPID_PRIVATE_KEY are set.
`

func vapid(ctx context.Context, args []string, stdout io.Writer) error {
	sub := "generate"
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("vapid "+sub, flag.ContinueOnError)
	revoke := fs.Bool("revoke", false, "rotate: the old key stops signing at once (compromise)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || (*revoke && sub != "rotate") {
		fmt.Fprint(os.Stderr, vapidUsage)
		return fmt.Errorf("vapid %s: unexpected arguments", sub)
	}
	switch sub {
	case "generate":
		k, err := domain.GenerateVAPIDKeys()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "VAPID_PUBLIC_KEY=%s\nVAPID_PRIVATE_KEY=%s\n", k.PublicKey, k.PrivateKey)
		return nil
	case "rotate", "list":
		cfg, err := wiring.LoadConfig(os.Getenv)
		if err != nil {
			return err
		}
		if sub == "list" {
			return wiring.ListVAPIDKeys(ctx, cfg, stdout)
		}
		return wiring.RotateVAPIDKey(ctx, cfg, *revoke, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, vapidUsage)
		return nil
	}
	fmt.Fprint(os.Stderr, vapidUsage)
	return fmt.Errorf("unknown vapid command %q", sub)
}

func token(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	user := fs.String("user", "", "user id (the sub claim); required")
	userType := fs.String("type", "", `user_type claim: "client", "owner", or empty for none (refused unless DEV_MODE or JWT_REQUIRE_ROLE=false)`)
	ttl := fs.Duration("ttl", 24*time.Hour, "validity")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *user == "" {
		return errors.New("token: -user is required")
	}
	var role domain.UserType // none: the token carries no role claim
	if *userType != "" {
		var err error
		if role, err = domain.ParseUserType(*userType); err != nil {
			return fmt.Errorf("token: -type %w", err)
		}
	}
	secret := strings.TrimSpace(os.Getenv("JWT_SECRET")) // as the service reads it
	if secret == "" {
		return errors.New("token: JWT_SECRET is not set")
	}
	// In the claims the service reads (JWT_USER_CLAIM, JWT_ROLE_CLAIM,
	// JWT_ROLE_VALUES), so the token works against it as configured.
	shape := auth.Shape{UserClaim: strings.TrimSpace(os.Getenv("JWT_USER_CLAIM")), RoleClaim: strings.TrimSpace(os.Getenv("JWT_ROLE_CLAIM"))}
	if v := strings.TrimSpace(os.Getenv("JWT_ROLE_VALUES")); v != "" {
		var err error
		if shape.RoleValues, err = auth.ParseRoleValues(v); err != nil {
			return fmt.Errorf("token: JWT_ROLE_VALUES: %w", err)
		}
	}
	t, err := auth.Mint([]byte(secret), shape, *user, role, *ttl, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, t)
	return nil
}
