package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/youworker/youworker/client"
)

// Config is what login stores: the API's URL and the credentials for it. The file holds secrets:
// it is created with mode 0600 in a directory with mode 0700, and a file that others may read is
// refused.
type Config struct {
	URL      string         `json:"url"`
	Username string         `json:"username,omitempty"`
	APIKey   string         `json:"api_key,omitempty"`
	Tokens   *client.Tokens `json:"tokens,omitempty"`
}

// LoggedIn reports whether the config has credentials.
func (c Config) LoggedIn() bool { return c.APIKey != "" || c.Tokens != nil }

// configFile is the file in dir.
const configFile = "config.json"

// configDir is YOUWORKER_CONFIG_DIR, or youworker/ in the user's configuration directory
// (os.UserConfigDir: $XDG_CONFIG_HOME or ~/.config on Linux).
func configDir(getenv func(string) string) (string, error) {
	if d := getenv("YOUWORKER_CONFIG_DIR"); d != "" {
		return d, nil
	}
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the configuration directory: %w (set YOUWORKER_CONFIG_DIR)", err)
	}
	return filepath.Join(base, "youworker"), nil
}

// loadConfig reads the config in dir; a missing file is an empty config.
func loadConfig(dir string) (Config, error) {
	path := filepath.Join(dir, configFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Config{}, nil
	}
	if err != nil {
		return Config{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Config{}, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return Config{}, exposedError{path: path, mode: st.Mode().Perm()}
	}
	var c Config
	if err := json.NewDecoder(f).Decode(&c); err != nil {
		return Config{}, fmt.Errorf("%s is not a valid configuration (%v); remove it and run youworker login", path, err)
	}
	return c, nil
}

// exposedError refuses a config file that others may read.
type exposedError struct {
	path string
	mode fs.FileMode
}

func (e exposedError) Error() string {
	return fmt.Sprintf("%s holds credentials but others may read it (mode %#o); run chmod 600 %s, or youworker login again",
		e.path, e.mode, e.path)
}

// saveConfig writes the config to dir atomically: a new file of mode 0600 renamed over the old.
func saveConfig(dir string, c Config) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".config-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename there is nothing left to remove
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, configFile))
}

// lockConfig takes an exclusive lock on the config directory's lock file until unlock.
func lockConfig(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

// tokenStore keeps refreshed tokens in the config file (client.TokenStore).
type tokenStore struct{ dir, url string }

func (s tokenStore) Update(fn func(*client.Tokens) (client.Tokens, error)) error {
	unlock, err := lockConfig(s.dir)
	if err != nil {
		return err
	}
	defer unlock()
	c, err := loadConfig(s.dir)
	if err != nil {
		return err
	}
	if c.URL != s.url || c.Tokens == nil {
		return fmt.Errorf("the stored login changed while this command ran (it is now for %q); run the command again", c.URL)
	}
	t, err := fn(c.Tokens)
	if err != nil {
		return err
	}
	if *c.Tokens == t {
		return nil
	}
	c.Tokens = &t
	return saveConfig(s.dir, c)
}
