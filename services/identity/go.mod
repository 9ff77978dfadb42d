module github.com/meterflow/meterflow/services/identity

go 1.26.8
