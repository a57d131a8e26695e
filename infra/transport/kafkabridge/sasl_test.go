package kafkabridge_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/eventnotify/notify/infra/transport/kafkabridge"
)

// secureBroker returns a SASL_SSL endpoint with SCRAM users, the CA file that signs it, and a
// test client already authenticated: the real broker's secure listener when
// KAFKA_SASL_BROKERS is set (deploy/kafka/kafka.sh up-secure), else kfake with TLS and SASL.
func secureBroker(t *testing.T, mechanism string) (brokers []string, caFile, user, pass string, client *kgo.Client) {
	t.Helper()
	user, pass = "notify", "notify-secret"
	var tlsCfg *tls.Config
	if b := os.Getenv("KAFKA_SASL_BROKERS"); b != "" {
		brokers, caFile = strings.Split(b, ","), os.Getenv("KAFKA_CA_PEM")
		user, pass = os.Getenv("KAFKA_SASL_USERNAME"), os.Getenv("KAFKA_SASL_PASSWORD")
		pem, err := os.ReadFile(caFile)
		if err != nil {
			t.Fatalf("KAFKA_CA_PEM: %v", err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tlsCfg = &tls.Config{RootCAs: pool}
	} else {
		var serverCfg *tls.Config
		caFile, serverCfg, tlsCfg = selfSigned(t)
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.TLS(serverCfg),
			kfake.EnableSASL(), kfake.Superuser(mechanism, user, pass))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		brokers = c.ListenAddrs()
	}
	auth := scram.Auth{User: user, Pass: pass}
	mech := auth.AsSha256Mechanism()
	if mechanism == "SCRAM-SHA-512" {
		mech = auth.AsSha512Mechanism()
	}
	client, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DialTLSConfig(tlsCfg), kgo.SASL(mech), kgo.UnknownTopicRetries(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return brokers, caFile, user, pass, client
}

// selfSigned makes a CA-less self-signed certificate for 127.0.0.1, written as the CA file.
func selfSigned(t *testing.T) (caFile string, server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kfake"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, _ := x509.MarshalECPrivateKey(key)
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return caFile, &tls.Config{Certificates: []tls.Certificate{cert}}, &tls.Config{RootCAs: pool}
}

// The bridge authenticates with SCRAM over TLS, as managed Kafka services require; a wrong
// password is refused at start with an error that says so.
func TestSASL_SCRAMOverTLS(t *testing.T) {
	t.Parallel()
	for _, mechanism := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mechanism, func(t *testing.T) {
			t.Parallel()
			brokers, caFile, user, pass, client := secureBroker(t, mechanism)
			f := newFixture(t, func(c *kafkabridge.Config) {
				c.Brokers = brokers
				c.SASL = kafkabridge.SASL{Mechanism: mechanism, User: user, Password: pass}
				c.TLS = kafkabridge.TLS{Enabled: true, CAFile: caFile}
			}, client)
			f.start(t, "")
			f.produce(t, f.cfg.SendTopic, "", `{"recipientId":"sasl-user","content":"Over SCRAM and TLS","category":"security"}`, nil)
			f.waitInbox(t, "sasl-user", 1)

			bad := f.cfg
			bad.SASL.Password = "wrong-" + pass
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := startFails(ctx, bad, f); err == nil || !strings.Contains(err.Error(), "cannot connect to Kafka brokers") {
				t.Fatalf("a wrong password gave %v, want an error that says the brokers refused us", err)
			} else {
				t.Logf("wrong password: %v", err)
			}
		})
	}
}

func startFails(ctx context.Context, cfg kafkabridge.Config, f *fixture) error {
	b, err := kafkabridge.New(cfg, f.cmds, nil, nil, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	go b.Run(ctx)
	select {
	case <-b.Running():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
