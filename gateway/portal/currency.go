package portal

import (
	"github.com/gofiber/fiber/v2"

	"github.com/meterflow/meterflow/gateway/internal/money"
	"github.com/meterflow/meterflow/gateway/internal/web"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// Money is shown in the deployment's currency, which the wallet owns (one
// per deployment): the portal learns it from the first wallet it reads
// and keeps it for the process's life.

func (p *Portal) money(cents int64) string { return money.FormatIn(cents, p.currencyCode()) }

func (p *Portal) signedMoney(cents int64) string { return money.SignedIn(cents, p.currencyCode()) }

func (p *Portal) currencyCode() string {
	p.currency.RLock()
	defer p.currency.RUnlock()
	return p.currency.code
}

// learnCurrency keeps the currency of a wallet just read.
func (p *Portal) learnCurrency(w *walletv1.Wallet) {
	if c := w.GetCurrency(); c != "" {
		p.currency.Lock()
		p.currency.code, p.currency.known = c, true
		p.currency.Unlock()
	}
}

// withCurrency wraps a signed-in page so that the currency is known before
// it renders: the first page after a start reads the user's wallet once.
func (p *Portal) withCurrency(h func(*fiber.Ctx, *web.Session) error) func(*fiber.Ctx, *web.Session) error {
	return func(x *fiber.Ctx, s *web.Session) error {
		p.currency.RLock()
		known := p.currency.known
		p.currency.RUnlock()
		if !known {
			ctx, cancel := p.call(x, s)
			w, err := p.d.Wallet.GetWallet(ctx, &walletv1.GetWalletRequest{})
			cancel()
			if err != nil {
				// The page's own calls will show what is wrong.
				p.log.WarnContext(x.UserContext(), "portal: could not read the wallet's currency", "err", err)
			} else {
				p.learnCurrency(w.GetWallet())
			}
		}
		return h(x, s)
	}
}
