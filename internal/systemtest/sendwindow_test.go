package systemtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A clinic whose send window opens outside the calling hours stops both real
// programs at start, with an error naming the clinic and the field; "* * * *
// *" (every minute, night included) is one such window, and so is 08:00-20:59
// for a clinic that selected Florida's hours.
func TestSendWindowOutsideCallingHoursDoesNotStart(t *testing.T) {
	t.Parallel()
	s := setup(t, "24h,48h,72h")
	for _, tt := range []struct{ window, want string }{
		{`"send_window":"* * * * *"`, `clinic "harbour": send_window: send window "* * * * *" opens at 00:00, outside 08:00-21:00 in the recipient's zone`},
		{`"send_window":"* 8-20 * * *","send_window_region":"us-fl"`, `clinic "harbour": send_window: send window "* 8-20 * * *" opens at 20:00, outside 08:00-20:00`},
	} {
		doc := strings.Replace(cappedClinicJSON, `"send_window":"* 8-20 * * *"`, tt.window, 1)
		if err := os.WriteFile(s.clinics, []byte(fmt.Sprintf(doc, s.clinic.URL)), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"scheduler", "worker"} {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			cmd := exec.CommandContext(ctx, filepath.Join(binDir, name))
			cmd.Env = []string{"NATS_URL=" + s.natsURL, "HTTP_ADDR=127.0.0.1:0", "CLINICS_FILE=" + s.clinics, "HARBOUR_TOKEN=" + token,
				"HARBOUR_WEBHOOK_SECRET=" + webhookSecret, "SMS_DRIVER=console", "INBOUND_SPOOL_DIR=" + t.TempDir()}
			out, err := cmd.CombinedOutput()
			cancel()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || !strings.Contains(string(out), tt.want) {
				t.Errorf("%s with %s: %v\n%s", name, tt.window, err, out)
			}
		}
	}
}
