/** Types and a small in-memory store for users. */
import { EventEmitter } from "events";

/** A registered user. */
export interface User {
  id: number;
  name: string;
  email?: string;
}

export type UserId = User["id"];

/** Role a user can have. */
export enum Role {
  Admin = "admin",
  Reader = "reader",
}

/** Keeps users in memory and emits events on change. */
export class UserStore extends EventEmitter {
  private users = new Map<UserId, User>();

  /** Add a user and emit `added`. */
  add(user: User): void {
    this.users.set(user.id, user);
    this.emit("added", user);
  }

  get(id: UserId): User | undefined {
    return this.users.get(id);
  }

  /** Number of users in the store. */
  get size(): number {
    return this.users.size;
  }
}

/** Find users whose name contains `query` (case-insensitive). */
export function search(store: UserStore, query: string): User[] {
  const q = query.toLowerCase();
  return [];
}

const greet = (u: User): string => `Hello, ${u.name}`;

namespace Validation {
  /** True when the email looks valid. */
  export function isEmail(s: string): boolean {
    return /^[^@]+@[^@]+$/.test(s);
  }
}
