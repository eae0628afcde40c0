package com.example.bank;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;

/**
 * A bank account with a balance and a transaction history.
 */
public class Account {
    private final String owner;
    private BigDecimal balance = BigDecimal.ZERO;
    private final List<Transaction> history = new ArrayList<>();

    /** Creates an empty account for {@code owner}. */
    public Account(String owner) {
        this.owner = owner;
    }

    /**
     * Deposits a positive amount.
     *
     * @param amount the amount to add
     * @throws IllegalArgumentException if amount is not positive
     */
    public void deposit(BigDecimal amount) {
        if (amount.signum() <= 0) {
            throw new IllegalArgumentException("amount must be positive");
        }
        balance = balance.add(amount);
        history.add(new Transaction(Kind.DEPOSIT, amount));
    }

    @Override
    public String toString() {
        return owner + ": " + balance;
    }

    /** One entry in the account history. */
    public static final class Transaction {
        final Kind kind;
        final BigDecimal amount;

        Transaction(Kind kind, BigDecimal amount) {
            this.kind = kind;
            this.amount = amount;
        }
    }

    /** Kinds of transactions. */
    enum Kind {
        DEPOSIT,
        WITHDRAWAL;

        boolean isCredit() {
            return this == DEPOSIT;
        }
    }
}

/** Something that can be audited. */
interface Auditable {
    /** The audit trail, newest first. */
    List<String> auditTrail();
}
