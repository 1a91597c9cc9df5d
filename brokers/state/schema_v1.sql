-- Version 1 of the state database, frozen: what migrate_to_1 creates on a new file.
-- Never edit: later versions change the schema in their own migrate_to_N step.
CREATE TABLE runs (
	id INTEGER NOT NULL, 
	started_ms INTEGER NOT NULL, 
	stopped_ms INTEGER, 
	mode VARCHAR(16) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	pid INTEGER NOT NULL, 
	config_json TEXT NOT NULL, 
	last_heartbeat_ms INTEGER NOT NULL, 
	CONSTRAINT pk_runs PRIMARY KEY (id)
);
CREATE INDEX ix_runs_status ON runs (status);
CREATE TABLE account (
	id INTEGER NOT NULL, 
	initial_balance FLOAT NOT NULL, 
	cash FLOAT NOT NULL, 
	created_ms INTEGER NOT NULL, 
	updated_ms INTEGER NOT NULL, 
	CONSTRAINT pk_account PRIMARY KEY (id), 
	CONSTRAINT ck_account_single_row CHECK (id = 1)
);
CREATE TABLE market_status (
	symbol VARCHAR(32) NOT NULL, 
	last_price FLOAT, 
	last_price_ms INTEGER, 
	feed_status VARCHAR(16), 
	last_message_ms INTEGER, 
	last_closed_bar_ms INTEGER, 
	updated_ms INTEGER NOT NULL, 
	CONSTRAINT pk_market_status PRIMARY KEY (symbol)
);
CREATE TABLE equity_snapshots (
	id INTEGER NOT NULL, 
	time_ms INTEGER NOT NULL, 
	equity FLOAT NOT NULL, 
	cash FLOAT NOT NULL, 
	open_positions INTEGER NOT NULL, 
	run_id INTEGER NOT NULL, 
	CONSTRAINT pk_equity_snapshots PRIMARY KEY (id), 
	CONSTRAINT fk_equity_snapshots_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id)
);
CREATE INDEX ix_equity_snapshots_time_ms ON equity_snapshots (time_ms);
CREATE TABLE signals (
	id INTEGER NOT NULL, 
	time_ms INTEGER NOT NULL, 
	symbol VARCHAR(32) NOT NULL, 
	side VARCHAR(8) NOT NULL, 
	confidence FLOAT NOT NULL, 
	entry FLOAT NOT NULL, 
	stop_loss FLOAT NOT NULL, 
	take_profit FLOAT NOT NULL, 
	reasons_json TEXT NOT NULL, 
	traded BOOLEAN NOT NULL, 
	decision TEXT NOT NULL, 
	run_id INTEGER NOT NULL, 
	CONSTRAINT pk_signals PRIMARY KEY (id), 
	CONSTRAINT fk_signals_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id)
);
CREATE INDEX ix_signals_time_ms ON signals (time_ms);
CREATE TABLE trades (
	id INTEGER NOT NULL, 
	symbol VARCHAR(32) NOT NULL, 
	side VARCHAR(8) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	signal_id INTEGER, 
	size FLOAT NOT NULL, 
	planned_entry FLOAT NOT NULL, 
	stop_loss FLOAT NOT NULL, 
	take_profit FLOAT NOT NULL, 
	confidence FLOAT NOT NULL, 
	risk FLOAT NOT NULL, 
	entry_price FLOAT, 
	entry_time_ms INTEGER, 
	entry_fee FLOAT, 
	exit_price FLOAT, 
	exit_time_ms INTEGER, 
	exit_fee FLOAT, 
	exit_reason VARCHAR(32), 
	pnl FLOAT, 
	valid_until_ms INTEGER, 
	created_ms INTEGER NOT NULL, 
	updated_ms INTEGER NOT NULL, 
	CONSTRAINT pk_trades PRIMARY KEY (id), 
	CONSTRAINT fk_trades_signal_id_signals FOREIGN KEY(signal_id) REFERENCES signals (id)
);
CREATE INDEX ix_trades_exit_time_ms ON trades (exit_time_ms);
CREATE INDEX ix_trades_status ON trades (status);
CREATE TABLE orders (
	id INTEGER NOT NULL, 
	client_order_id VARCHAR(64) NOT NULL, 
	trade_id INTEGER NOT NULL, 
	symbol VARCHAR(32) NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	side VARCHAR(8) NOT NULL, 
	order_type VARCHAR(16) NOT NULL, 
	price FLOAT, 
	size FLOAT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	created_ms INTEGER NOT NULL, 
	updated_ms INTEGER NOT NULL, 
	CONSTRAINT pk_orders PRIMARY KEY (id), 
	CONSTRAINT uq_orders_client_order_id UNIQUE (client_order_id), 
	CONSTRAINT fk_orders_trade_id_trades FOREIGN KEY(trade_id) REFERENCES trades (id)
);
CREATE INDEX ix_orders_status ON orders (status);
CREATE INDEX ix_orders_trade_id ON orders (trade_id);
CREATE TABLE order_events (
	id INTEGER NOT NULL, 
	order_id INTEGER NOT NULL, 
	time_ms INTEGER NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	note TEXT NOT NULL, 
	CONSTRAINT pk_order_events PRIMARY KEY (id), 
	CONSTRAINT fk_order_events_order_id_orders FOREIGN KEY(order_id) REFERENCES orders (id)
);
CREATE INDEX ix_order_events_order_id ON order_events (order_id);
CREATE TABLE fills (
	id INTEGER NOT NULL, 
	order_id INTEGER NOT NULL, 
	time_ms INTEGER NOT NULL, 
	price FLOAT NOT NULL, 
	size FLOAT NOT NULL, 
	fee FLOAT NOT NULL, 
	CONSTRAINT pk_fills PRIMARY KEY (id), 
	CONSTRAINT fk_fills_order_id_orders FOREIGN KEY(order_id) REFERENCES orders (id)
);
CREATE INDEX ix_fills_order_id ON fills (order_id);
