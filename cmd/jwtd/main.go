// Command jwtd runs the jwtd token service and its operator commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// usageError is bad usage: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

// exitCode prints err as one line and maps it: 0 success, 1 a failure, 2
// bad usage.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "jwtd: "+strings.ReplaceAll(err.Error(), "\n", " "))
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// env is what commands read from outside their flags.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        []string
	configPath     string
	configSet      bool
	log            *slog.Logger
}

// logger is the JSON logger on stderr that serving logs to, made once.
func (e *env) logger() *slog.Logger {
	if e.log == nil {
		e.log = slog.New(slog.NewJSONHandler(e.stderr, nil))
	}
	return e.log
}

func (e *env) config() (Config, []string, error) {
	return loadConfig(e.configPath, !e.configSet, e.environ)
}

// run is main without the process: it parses args and runs one command.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) error {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, environ: environ}
	root := &cobra.Command{
		Use:           "jwtd",
		Short:         "jwtd issues and verifies JWTs with rotating keys",
		Long:          "jwtd issues and verifies JWTs with rotating keys. With no command it serves.",
		Args:          noArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), e)
		},
	}
	root.PersistentFlags().StringVar(&e.configPath, "config", "config.yaml", "configuration file")
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		e.configSet = cmd.Flags().Changed("config")
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(
		&cobra.Command{Use: "serve", Short: "run the service (the default)", Args: noArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd.Context(), e) }},
		group("config", "configuration commands",
			&cobra.Command{Use: "check", Short: "validate the configuration and print it, secrets masked", Args: noArgs,
				RunE: func(*cobra.Command, []string) error { return configCheck(e) }}),
		group("client", "client commands",
			&cobra.Command{Use: "secret", Short: "print a new random client secret and its sha256: hash", Args: noArgs,
				RunE: func(*cobra.Command, []string) error { return clientSecret(e) }}),
		keysCommand(e),
		group("token", "token commands",
			&cobra.Command{Use: "inspect [TOKEN or -]", Short: "decode a token and say whether it verifies against the configured keys",
				Args: maxArgs(1),
				RunE: func(cmd *cobra.Command, args []string) error { return tokenInspect(cmd.Context(), e, args) }}),
		healthCommand(e),
	)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("unknown command or argument %q for %q (see %s --help)", args[0], cmd.CommandPath(), cmd.CommandPath())}
	}
	return nil
}

func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usageError{fmt.Errorf("%s takes at most %d argument(s)", cmd.CommandPath(), n)}
		}
		return nil
	}
}

// group is a command that only holds subcommands.
func group(name, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use: name, Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q (see %s --help)", args[0], cmd.CommandPath(), cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("%s needs a command (see %s --help)", cmd.CommandPath(), cmd.CommandPath())}
		},
	}
	g.AddCommand(subs...)
	return g
}
