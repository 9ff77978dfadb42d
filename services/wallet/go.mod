module github.com/meterflow/meterflow/services/wallet

go 1.26.8
