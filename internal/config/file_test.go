package config_test

import "os"

func writeFile(path, doc string) error { return os.WriteFile(path, []byte(doc), 0o600) }
